"""Build a busybox root filesystem and an OCI bundle offline, from Debian's ``busybox-static``.

Used by the tests of every part, the benchmarks and the quickstart; needs no network and no image.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from typing import Any

from ketch.spec.runtime_defaults import default_config

__all__ = ["BusyboxNotFound", "busybox_path", "make_bundle", "make_rootfs"]

_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class BusyboxNotFound(RuntimeError):
    """No statically linked busybox on this machine (install Debian's busybox-static)."""


def busybox_path() -> str:
    for path in _CANDIDATES:
        if os.path.isfile(path) and _is_static(path):
            return path
    raise BusyboxNotFound("a static busybox is needed: apt-get install busybox-static")


def _is_static(path: str) -> bool:
    # A static ELF has no PT_INTERP program header; reading the header is cheaper than running file(1).
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        phoff = int.from_bytes(head[32:40], "little")
        phentsize = int.from_bytes(head[54:56], "little")
        phnum = int.from_bytes(head[56:58], "little")
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        if int.from_bytes(table[i * phentsize : i * phentsize + 4], "little") == 3:  # PT_INTERP
            return False
    return True


_PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"


def make_rootfs(dest: str) -> str:
    """Create ``dest`` as a minimal busybox root: /bin with every applet, /etc/passwd and group, empty dirs."""
    bb = busybox_path()
    os.makedirs(dest, exist_ok=True)
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "usr/bin", "var", "run"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    target = os.path.join(dest, "bin", "busybox")
    shutil.copy2(bb, target)
    applets = subprocess.run([bb, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        link = os.path.join(dest, "bin", applet)
        if applet != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write(_PASSWD)
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write(_GROUP)
    return dest


def make_bundle(
    dest: str,
    args: list[str] | None = None,
    *,
    config: dict[str, Any] | None = None,
    rootfs: str | None = None,
    **process: Any,
) -> str:
    """Create an OCI bundle in ``dest``: a busybox rootfs and a config.json running ``args``.

    ``config`` replaces the default config wholesale; ``process`` keys are merged into ``config["process"]``.
    The default differs from ``ketch-runtime spec`` only in having no terminal, so tests can read output.
    ``rootfs`` names an existing root to link (saves copying busybox for every test).
    """
    os.makedirs(dest, exist_ok=True)
    root = os.path.join(dest, "rootfs")
    if rootfs is not None:
        if not os.path.lexists(root):
            shutil.copytree(rootfs, root, symlinks=True)
    else:
        make_rootfs(root)
    cfg = copy.deepcopy(config) if config is not None else default_config(args, terminal=False)
    if args is not None and config is not None:
        cfg.setdefault("process", {})["args"] = list(args)
    cfg.setdefault("process", {}).update(process)
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return dest
