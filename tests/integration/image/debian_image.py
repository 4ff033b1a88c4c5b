"""A six-layer Debian image built from a ``debootstrap --variant=minbase`` tree, and tree comparison.

Shared by the Debian unpack test and ``bench/image_unpack.py``. The first layer is the tree minus some big
directories (``tar_directory``); each later layer is made the way ``ketch image commit --upper`` makes one:
changes are done through an overlay mount whose lower dirs are the layers so far, and the upper dir becomes
the layer (``tar_overlay_upper``), so whiteouts and opaque directories are the kernel's own. Needs root.

    1 base      the tree without usr/share/{doc,locale,man}, var/lib/apt/lists, var/cache
    2 docs      usr/share/doc and usr/share/locale added
    3 extras    man pages, apt lists and cache; a chmod, a chown, a setuid file, user.* xattrs, a file
                capability, a fifo, a device node, a hardlink pair, a long path, an absolute symlink
    4 removals  etc/motd and usr/share/doc/apt deleted; usr/share/locale emptied and remade (opaque);
                a directory replaced by a file and a file by a directory
    5 recreate  etc/motd back with other content and mode; usr/share/doc/apt back as a symlink; one name of
                the hardlink pair deleted; a symlink retargeted
    6 final     an apt list and the fifo deleted, a file added in the opaque directory, a directory chmod
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from typing import Any

from ketch.image.build import layer_from_tar_writer, new_config, write_image
from ketch.image.layer.generate import tar_directory, tar_overlay_upper
from ketch.image.store import ImageStore
from ketch.linux.mount import mount
from ketch.linux.mount import umount2 as umount
from ketch.spec.image import ContainerConfig, Descriptor

__all__ = ["build_debian_image", "debootstrap", "tree_manifest"]

SPLIT_OUT = ("usr/share/doc", "usr/share/locale", "usr/share/man", "var/lib/apt/lists", "var/cache")
# security.capability v2: cap_net_bind_service (bit 10) permitted + effective
_CAPABILITY = bytes.fromhex("0100000200040000000000000000000000000000")


def debootstrap(dest: str, timeout: float = 600) -> str | None:
    """``debootstrap --variant=minbase bookworm dest``; None on success, else why it failed."""
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed"
    try:
        r = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", dest],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"debootstrap took more than {timeout:.0f} s"
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return f"debootstrap failed (no Debian mirror reachable?): {' / '.join(tail)}"
    return None


def _copy(src: str, dst: str) -> None:
    shutil.copytree(src, dst, symlinks=True)


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _docs(tree: str, m: str) -> None:
    for rel in ("usr/share/doc", "usr/share/locale"):
        _copy(os.path.join(tree, rel), os.path.join(m, rel))


def _extras(tree: str, m: str) -> None:
    for rel in ("usr/share/man", "var/lib/apt/lists", "var/cache"):
        _copy(os.path.join(tree, rel), os.path.join(m, rel))
    os.chmod(os.path.join(m, "etc/hostname"), 0o600)
    os.chown(os.path.join(m, "etc/issue"), 1000, 1000)
    suid = os.path.join(m, "usr/local/bin/suid-tool")
    shutil.copyfile(os.path.join(m, "usr/bin/true"), suid)
    os.chown(suid, 0, 50)
    os.chmod(suid, 0o4755)  # after chown: chown clears set-id bits
    cap = os.path.join(m, "usr/local/bin/cap-tool")
    shutil.copyfile(os.path.join(m, "usr/bin/true"), cap)
    os.chmod(cap, 0o755)
    os.setxattr(cap, "security.capability", _CAPABILITY)
    os.makedirs(os.path.join(m, "srv/data"))
    os.setxattr(os.path.join(m, "srv/data"), "user.purpose", b"layer three")
    _write(os.path.join(m, "srv/data/tagged"), b"tagged\n")
    os.setxattr(os.path.join(m, "srv/data/tagged"), "user.colour", b"blue")
    os.mkfifo(os.path.join(m, "srv/fifo"), 0o640)
    os.mknod(os.path.join(m, "srv/null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    _write(os.path.join(m, "srv/data/one"), b"linked twice\n")
    os.link(os.path.join(m, "srv/data/one"), os.path.join(m, "srv/data/two"))
    deep = os.path.join(m, "srv", *(f"level-{i:02d}-of-a-long-path" for i in range(8)))
    os.makedirs(deep)
    _write(os.path.join(deep, "leaf-with-a-name-longer-than-one-hundred-characters" + "-x" * 30), b"deep\n")
    os.symlink("/usr/share/doc", os.path.join(m, "srv/docs"))
    os.symlink("data/one", os.path.join(m, "srv/link"))
    os.mkdir(os.path.join(m, "srv/was-dir"))
    _write(os.path.join(m, "srv/was-dir/inside"), b"inside\n")
    _write(os.path.join(m, "srv/was-file"), b"a file\n")


def _removals(tree: str, m: str) -> None:
    os.unlink(os.path.join(m, "etc/motd"))
    shutil.rmtree(os.path.join(m, "usr/share/doc/apt"))
    locale = os.path.join(m, "usr/share/locale")
    shutil.rmtree(locale)
    os.mkdir(locale, 0o755)  # overlayfs marks the new directory opaque: a .wh..wh..opq in the layer
    _write(os.path.join(locale, "locale.alias"), b"# emptied\n")
    shutil.rmtree(os.path.join(m, "srv/was-dir"))
    _write(os.path.join(m, "srv/was-dir"), b"now a file\n")
    os.unlink(os.path.join(m, "srv/was-file"))
    os.mkdir(os.path.join(m, "srv/was-file"), 0o750)
    _write(os.path.join(m, "srv/was-file/now-a-dir"), b"x\n")


def _recreate(tree: str, m: str) -> None:
    _write(os.path.join(m, "etc/motd"), b"recreated in layer five\n", 0o640)
    os.symlink("../doc/apt-utils", os.path.join(m, "usr/share/doc/apt"))
    os.unlink(os.path.join(m, "srv/data/two"))
    os.unlink(os.path.join(m, "srv/link"))
    os.symlink("data/tagged", os.path.join(m, "srv/link"))


def _final(tree: str, m: str) -> None:
    lists = os.path.join(m, "var/lib/apt/lists")
    victim = sorted(n for n in os.listdir(lists) if n.endswith("_Packages"))[0]
    os.unlink(os.path.join(lists, victim))
    os.unlink(os.path.join(m, "srv/fifo"))
    _write(os.path.join(m, "usr/share/locale/added-later"), b"after the opaque layer\n")
    os.chmod(os.path.join(m, "srv/data"), 0o700)


LAYERS: list[tuple[str, Callable[[str, str], None]]] = [
    ("docs", _docs),
    ("extras", _extras),
    ("removals", _removals),
    ("recreate", _recreate),
    ("final", _final),
]


def build_debian_image(
    store: ImageStore, tree: str, work: str, name: str, *, compression: str = "gzip"
) -> Descriptor:
    """Build the six-layer image from the debootstrap ``tree`` (left unchanged) using scratch dir ``work``."""
    os.makedirs(work, exist_ok=True)
    base = os.path.join(work, "base")
    subprocess.run(["cp", "-al", tree, base], check=True)  # hardlinks: no copying, same metadata
    for rel in SPLIT_OUT:
        shutil.rmtree(os.path.join(base, rel))
    layers: list[Descriptor] = []
    diff_ids = []
    with store.lease():
        desc, diff_id = layer_from_tar_writer(store, lambda out: tar_directory(base, out), compression)
        layers.append(desc)
        diff_ids.append(diff_id)
        lowers = [base]
        merged = os.path.join(work, "merged")
        os.mkdir(merged)
        for i, (_label, change) in enumerate(LAYERS, start=2):
            upper, wdir = os.path.join(work, f"upper{i}"), os.path.join(work, f"work{i}")
            os.mkdir(upper)
            os.mkdir(wdir)
            options = f"lowerdir={':'.join(reversed(lowers))},upperdir={upper},workdir={wdir},index=off"
            mount("overlay", merged, "overlay", 0, options)
            try:
                change(tree, merged)
            finally:
                umount(merged)
            desc, diff_id = layer_from_tar_writer(
                store, lambda out, u=upper: tar_overlay_upper(u, out), compression
            )
            layers.append(desc)
            diff_ids.append(diff_id)
            lowers.append(upper)
        config = new_config(diff_ids, ContainerConfig(cmd=["/bin/bash"]))
        return write_image(store, config, layers, name=name)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree_manifest(root: str, *, mtimes: bool = False) -> dict[str, Any]:
    """Everything about the tree under ``root`` that an unpack decides, as comparable data.

    ``entries``: path -> (st_mode, uid, gid, size, content sha256 / symlink target / rdev, xattrs[, mtime]);
    ``hardlinks``: the sets of paths sharing an inode (two or more names).
    """
    entries: dict[str, tuple[Any, ...]] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                what: Any = _sha256(full)
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                what = None
            xattrs = tuple(
                sorted(
                    (a, os.getxattr(full, a, follow_symlinks=False))
                    for a in os.listxattr(full, follow_symlinks=False)
                )
            )
            size = st.st_size if not stat.S_ISDIR(st.st_mode) else 0
            row: tuple[Any, ...] = (st.st_mode, st.st_uid, st.st_gid, size, what, xattrs)
            if mtimes:
                row = (*row, int(st.st_mtime))
            entries[rel] = row
    hardlinks = sorted(sorted(group) for group in inodes.values() if len(group) > 1)
    return {"entries": entries, "hardlinks": hardlinks}
