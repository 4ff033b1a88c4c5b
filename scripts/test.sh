#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs the whole test suite: lint, types, layering, unit and
# integration tests (the integration tests need root, cgroups and the peers that setup.sh installs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== mypy"; mypy
echo "== pytest"; python -m pytest "$@"
