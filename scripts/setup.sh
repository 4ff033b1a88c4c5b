#!/usr/bin/env bash
# Installs everything ketch and its tests need on a fresh Debian 12 machine (run as root):
# system packages (the peers ketch is tested against, busybox-static for offline images), then a virtualenv
# in .venv with ketch installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  busybox-static          # offline test images
  debootstrap             # the multi-layer Debian image of the image tests and benchmark
  python3-venv python3-dev
  libseccomp2 libarchive13
  iproute2 iptables procps util-linux kmod time
  runc crun umoci skopeo podman containerd conmon criu
  containernetworking-plugins docker-registry
  wrk                     # request rates in bench/registry.py
  openssl curl            # TLS test certificates (registry, client), benchmarks
  zsh                     # syntax check of the zsh completion script
)

need_apt=0
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || { need_apt=1; break; }
done
if [ "$need_apt" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
fi

PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]'

# byte-compile now (a runtime call should never compile), and give ketch, ketchd and ketch-runtime their fast launchers
.venv/bin/python -m compileall -q src >/dev/null
.venv/bin/python -m ketch.cli.launcher >/dev/null
echo "setup: ketch installed in $(pwd)/.venv"
