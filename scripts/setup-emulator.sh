#!/usr/bin/env bash
# Installs moto's server mode (the local AWS emulator the tests, the bench and the demo use) into .venv,
# unless a moto_server is already there. Idempotent; needs Python 3 with venv (or pip) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION="${MOTO_VERSION:-5.2.1}"
if [ -x .venv/bin/moto_server ]; then exit 0; fi
PY=$(command -v python3 || command -v python || true)
if [ -z "$PY" ]; then echo "setup-emulator: python3 not found; install Python 3 to run the emulator" >&2; exit 2; fi
echo "setup-emulator: installing moto[server]==$MOTO_VERSION into .venv" >&2
if ! "$PY" -m venv .venv >/dev/null 2>&1; then
  echo "setup-emulator: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 2
fi
.venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
.venv/bin/moto_server --help >/dev/null
echo "setup-emulator: ready: .venv/bin/moto_server" >&2
