#!/usr/bin/env bash
# End-to-end timing of `portcullis check` on the generated corpus of 2,000 Deployments, side
# by side with Checkov's equivalent CKV_K8S checks (docs/benchmarks.md).
#
#   tests/benches/compare.sh [WORK_DIR]      # default: target/compare
#
# Needs hyperfine (Debian package) and python3 with venv; installs Checkov from PyPI into
# WORK_DIR/venv on first use. Checkov runs offline (--skip-download, BC_SKIP_MAPPING) and,
# where unshare works, without a network namespace at all.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-target/compare}
mkdir -p "$work"

cargo build --release -q -p portcullis
cargo run --release -q -p portcullis-tests --example gen_corpus -- "$work/corpus" 2000

if [ ! -x "$work/venv/bin/checkov" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q checkov
fi
export BC_SKIP_MAPPING=TRUE
sandbox=()
if unshare -n true 2>/dev/null; then sandbox=(unshare -n); fi
# Checkov's closest equivalents of the ten rules: latest/missing tag, digest, root,
# read-only root fs, pull policy, privilege escalation, privileged. It has no CKV_K8S check
# for registries, pull secrets or literal secret values.
checks=CKV_K8S_14,CKV_K8S_43,CKV_K8S_23,CKV_K8S_22,CKV_K8S_15,CKV_K8S_20,CKV_K8S_16

bin=target/release/portcullis
hyperfine -N -i --warmup 1 --runs "${RUNS:-5}" --export-markdown "$work/results.md" \
    -n "portcullis, one file, 1 core" "$bin check $work/corpus/all.yaml --format json -j 1" \
    -n "portcullis, one file, 2 cores" "$bin check $work/corpus/all.yaml --format json" \
    -n "portcullis, 2000 files, 1 core" "$bin check $work/corpus/split --format json -j 1" \
    -n "portcullis, 2000 files, 2 cores" "$bin check $work/corpus/split --format json" \
    -n "checkov, 2000 files, 7 checks" \
    "${sandbox[*]} $work/venv/bin/checkov -d $work/corpus/split --skip-download --compact --soft-fail -o json --framework kubernetes --check $checks"

for target in "$work/corpus/split" ; do
    /usr/bin/time -f "portcullis peak RSS: %M KB" "$bin" check "$target" --format json >/dev/null || true
done
/usr/bin/time -f "checkov peak RSS: %M KB" "${sandbox[@]}" "$work/venv/bin/checkov" -d "$work/corpus/split" \
    --skip-download --compact --soft-fail -o json --framework kubernetes --check "$checks" >/dev/null
