#!/bin/sh
# Installs the sigstore-python oracle (PyPI sigstore 4.5.1) into the venv given as $1.
set -eu
venv="$1"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "sigstore==4.5.1"
