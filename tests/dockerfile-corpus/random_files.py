#!/usr/bin/env python3
"""Random Dockerfile-like files for the differential test against BuildKit's parser: random
instructions stitched from pieces that stress continuations, comments inside them, quotes,
escapes, JSON arrays, flags, heredocs and parser directives. See README.md.

    random_files.py SEED COUNT OUTDIR
"""
import random, os, sys
random.seed(int(sys.argv[1]))
n=int(sys.argv[2])
KW=["FROM","RUN","CMD","ENTRYPOINT","COPY","ADD","ENV","ARG","USER","LABEL","ONBUILD","HEALTHCHECK","SHELL","WORKDIR","EXPOSE","VOLUME","from","run","MAINTAINER","STOPSIGNAL","BOGUS"]
P=[" ","  ","\\","`","\t","\"","'","$","${","}",":-","#","[","]",",","=","--","--from=x","--mount=type=cache,target=/x","--chown=a:b","<<","<<-","EOF","AS","as","a","b","x y","1","é","\\\n","\\ \n","\n","\n#c\n","\n\n","\\\n# c\n","\\\n\n",'["a","b"]','[ "x" ]',"\r","--platform=$P"]
out=sys.argv[3] if len(sys.argv)>3 else "files"; os.makedirs(out,exist_ok=True)
for i in range(n):
    lines=[]
    if random.random()<0.2: lines.append(random.choice(["# syntax=docker/dockerfile:1","# escape=`","#escape=\\","# check=skip=all"]))
    for _ in range(random.randint(1,8)):
        k=random.choice(KW)
        body="".join(random.choice(P) for _ in range(random.randint(0,10)))
        lines.append(k+" "+body)
        if "<<" in body and random.random()<0.7:
            lines.append(random.choice(["echo hi","EOF","\tEOF","x"]))
            lines.append("EOF")
    open(f"{out}/f{i:05d}","w").write("\n".join(lines)+random.choice(["","\n"]))
