#!/usr/bin/env python3
"""Sorts the disagreements of an oracle.py report (--json) into their known causes. The
oracle is PyPI `dockerfile` 3.4.0, which wraps BuildKit v0.12.5 (2023); our parser follows
BuildKit as of 2026 and keeps UTF-8 in flags. See README.md.

    explain_oracle.py REPORT.json
"""
import json,re,sys,collections
r=json.load(open(sys.argv[1]))
cat=collections.Counter(); other=[]
def latin(s):
    try: return s.encode('latin-1').decode('utf-8')
    except Exception: return None
def json_prefix(v):
    # a JSON array followed by extra text: old BuildKit (json.Decoder) accepted it, HEAD (json.Unmarshal) does not
    s=v.lstrip()
    try:
        obj,end=json.JSONDecoder().raw_decode(s); return s[end:].strip()!='' 
    except Exception: return False
for d in r['disagreements']:
    text=open(d['path'],encoding='utf-8',errors='replace').read()
    ws_heredoc = re.search(r'<<-?[ \t]', text) is not None
    if 'diffs' not in d:
        msgs=' '.join(e['message'] for e in d['our_errors'])
        if d['oracle_error'] and 'strings only' in d['oracle_error']: cat['old json.Decoder: array with trailing text']+=1
        elif 'heredoc' in msgs and (ws_heredoc or re.search(r'<<-?\\\\?\n', text) or '[' in text): cat['heredoc that old BuildKit missed (whitespace after <<, or a JSON array with trailing text before it)']+=1
        else: other.append(d)
        continue
    x=d['diffs'][0]; f=x.get('fields',[])
    if f==['flags'] and all(latin(o)==u for o,u in zip(x['oracle']['flags'],x['ours']['flags'])): cat['flags: non-ASCII mangled byte-wise by BuildKit']+=1
    elif 'json' in f and x['oracle'].get('json') and not x['ours'].get('json'): cat['old json.Decoder: array with trailing text']+=1
    elif f==['flags'] and re.search(r'^# *escape *= *`', text): cat['flags: old BuildKit hard-coded \\ as the escape in flags']+=1
    elif ws_heredoc: cat['whitespace after << (heredoc) is new']+=1
    else: other.append(d)
print(dict(cat)); print('unexplained', len(other))
for d in other[:8]: print(json.dumps(d)[:700]); print(repr(open(d['path']).read()[:300]))
