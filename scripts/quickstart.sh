#!/usr/bin/env bash
# Quickstart: set up a fresh Debian 12 machine (as root) and run a container end to end with ketch-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m ketch.testing.quickstart "$@"
