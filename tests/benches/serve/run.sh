#!/usr/bin/env bash
# The admission server under load, for docs/benchmarks.md ("Admission server"): wrk over
# TLS, 64 connections, a 3-container Pod per request; once steady, once with the rules
# rewritten every 5 s; the server's RSS sampled every second. Then the same request through
# the waPC module in wasmtime-provider (Kubewarden's engine), on as many threads as cores.
#
#   cargo build --release -p portcullis -p portcullis-tests --examples
#   target/release/portcullis wasm build --out target/wasm-modules
#   tests/benches/serve/run.sh            # DURATION=60 by default
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin=${PORTCULLIS:-$root/target/release/portcullis}
duration=${DURATION:-60}
connections=${CONNECTIONS:-64}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=bench CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req "${ec[@]}" -subj /CN=localhost -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' >ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out tls.crt 2>/dev/null
mkdir policies
rule() {
    cat >policies/team-registry.rhai <<RULE
// generation $1
const META = #{ id: "team-registry", title: "Team image outside its registry", severity: "medium",
                remediation: "Push the image to registry.company.com/shop/." };
fn check(workload, settings) {
    let findings = [];
    for c in workload.containers {
        if workload.namespace == "shop" && c.image.registry != "registry.company.com" {
            findings.push(finding(c, "image outside the team registry", "image"));
        }
    }
    findings
}
RULE
}
rule 0

"$bin" serve --listen 127.0.0.1:18443 --cert tls.crt --key tls.key --rules policies 2>server.log &
server=$!
until curl -sf --cacert ca.crt https://localhost:18443/readyz >/dev/null; do sleep 0.2; done
url=https://127.0.0.1:18443/validate
curl -sf --cacert ca.crt -H 'Content-Type: application/json' --data-binary @"$here/review.json" \
    https://localhost:18443/validate | head -c 300
echo

sample_rss() {
    while kill -0 "$server" 2>/dev/null; do
        ps -o rss= -p "$server" >>"$1"
        sleep 1
    done
}
rss_summary() {
    sort -n "$1" | awk '{ a[NR] = $1 } END { printf "RSS MiB: first %.1f, min %.1f, max %.1f, last %.1f (%d samples)\n",
        first / 1024, a[1] / 1024, a[NR] / 1024, last / 1024, NR }' first="$(head -n 1 "$1")" last="$(tail -n 1 "$1")"
}

echo "== steady: ${duration}s, $connections connections, TLS"
wrk -t2 -c"$connections" -d5s -s "$here/post.lua" "$url" -- "$here/review.json" >/dev/null   # warm-up
sample_rss rss-steady &
sampler=$!
wrk -t2 -c"$connections" -d"${duration}s" -s "$here/post.lua" "$url" -- "$here/review.json" | tail -n 2
kill $sampler
rss_summary rss-steady

echo "== reloading the rules every 5 s"
(
    generation=1
    while true; do
        sleep 5
        rule $generation
        generation=$((generation + 1))
    done
) &
reloader=$!
sample_rss rss-reload &
sampler=$!
wrk -t2 -c"$connections" -d"${duration}s" -s "$here/post.lua" "$url" -- "$here/review.json" | tail -n 2
kill $sampler $reloader
rss_summary rss-reload
curl -s --cacert ca.crt https://localhost:18443/metrics | grep -E '^portcullis_reloads_total'
kill "$server"
wait "$server" 2>/dev/null || true

modules=${MODULES:-$root/target/wasm-modules}
if [ -f "$modules/portcullis-wapc.wasm" ]; then
    echo "== the same request through the waPC module (wasmtime-provider), ${duration}s"
    "$root/target/release/examples/wapc_throughput" "$modules/portcullis-wapc.wasm" "$here/review.json" "$duration"
else
    echo "== waPC comparison skipped: no $modules/portcullis-wapc.wasm"
fi
