"""apply_tar: every kind of entry, whiteouts, and every path-escape attack refused or contained."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from layer_tars import entry, make_tar

from ketch.image.errors import CorruptLayer, LayerError, UnsafeLayerEntry
from ketch.image.layer import apply_tar

ROOT = os.geteuid() == 0


def apply(target: Path, *entries: object, mode: str = "remove") -> None:
    apply_tar(io.BytesIO(make_tar(*entries)), str(target), whiteouts=mode)  # type: ignore[arg-type]


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(target, outside): ``outside`` is a sibling that no layer may ever change."""
    target = tmp_path / "rootfs"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (outside / "victim").write_text("original")
    return target, outside


def snapshot(path: Path) -> dict[str, tuple[int, bytes | str]]:
    out: dict[str, tuple[int, bytes | str]] = {}
    for dirpath, dirs, files in os.walk(path):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            content: bytes | str = b""
            if stat.S_ISREG(st.st_mode):
                content = Path(p).read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            out[os.path.relpath(p, path)] = (st.st_mode, content)
    return out


def test_entry_kinds_modes_times(tmp_path: Path) -> None:
    apply(
        tmp_path,
        entry("./etc", "dir", mode=0o750, mtime=1000),
        entry("./etc/file", data=b"hello", mode=0o4755, mtime=2000),
        entry("./etc/link", "symlink", linkname="/etc/file"),
        entry("./etc/hard", "hardlink", linkname="./etc/file"),
        entry("./fifo", "fifo", mode=0o640),
        entry("deep/er/file", data=b"x"),  # parents missing from the tar are made
    )
    f = tmp_path / "etc" / "file"
    assert f.read_bytes() == b"hello"
    assert stat.S_IMODE(f.stat().st_mode) == 0o4755
    assert f.stat().st_mtime == 2000
    assert stat.S_IMODE((tmp_path / "etc").stat().st_mode) == 0o750
    assert (tmp_path / "etc").stat().st_mtime == 1000  # set after its children were made
    assert os.readlink(tmp_path / "etc" / "link") == "/etc/file"
    assert (tmp_path / "etc" / "hard").stat().st_ino == f.stat().st_ino
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)
    assert (tmp_path / "deep" / "er" / "file").read_bytes() == b"x"


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_ownership_devices_and_xattrs(tmp_path: Path) -> None:
    cap = b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    f, data = entry("ping", data=b"bin", uid=1000, gid=2000, mode=0o755)
    f.pax_headers = {
        "SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape"),
        "SCHILY.xattr.user.note": "hi",
        "SCHILY.xattr.trusted.overlay.redirect": "/elsewhere",
    }
    apply(tmp_path, (f, data), entry("null", "chr", devmajor=1, devminor=3, mode=0o666, uid=5))
    st = (tmp_path / "ping").stat()
    assert (st.st_uid, st.st_gid) == (1000, 2000)
    assert os.getxattr(tmp_path / "ping", "security.capability") == cap
    assert os.getxattr(tmp_path / "ping", "user.note") == b"hi"
    assert "trusted.overlay.redirect" not in os.listxattr(tmp_path / "ping")
    dev = (tmp_path / "null").lstat()
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    assert dev.st_uid == 5 and stat.S_IMODE(dev.st_mode) == 0o666


def test_modes_the_umask_would_drop_and_read_only_files(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        apply(
            tmp_path,
            entry("shared", data=b"s", mode=0o666),
            entry("readonly", data=b"r" * 5000, mode=0o444),
            entry("none", data=b"n", mode=0o000),
            entry("sticky", "dir", mode=0o1777),
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o666
    assert stat.S_IMODE((tmp_path / "readonly").stat().st_mode) == 0o444
    assert (tmp_path / "readonly").read_bytes() == b"r" * 5000
    assert stat.S_IMODE((tmp_path / "none").stat().st_mode) == 0o000
    assert stat.S_IMODE((tmp_path / "sticky").stat().st_mode) == 0o1777


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_owner_kept_in_a_set_gid_directory(tmp_path: Path) -> None:
    # a new file in a set-gid directory takes the directory's group: the entry's own group must still win
    apply(
        tmp_path,
        entry("mail", "dir", mode=0o2775, gid=8),
        entry("mail/root", data=b"x", uid=0, gid=0, mode=0o660),
        entry("mail/user", data=b"y", uid=1000, gid=8, mode=0o660),
        entry("mail/sgid", data=b"z", uid=0, gid=8, mode=0o2755),
    )
    owners = {
        n: (st.st_uid, st.st_gid) for n in ("root", "user", "sgid") if (st := (tmp_path / "mail" / n).stat())
    }
    assert owners == {"root": (0, 0), "user": (1000, 8), "sgid": (0, 8)}
    assert stat.S_IMODE((tmp_path / "mail" / "sgid").stat().st_mode) == 0o2755


def test_replace_rules(tmp_path: Path) -> None:
    apply(tmp_path, entry("a", "dir"), entry("a/x", data=b"1"), entry("b", data=b"file"))
    # a file replaces a directory; a directory replaces a file; a dir over a dir merges
    apply(tmp_path, entry("a", data=b"now a file"), entry("b", "dir"), entry("b/y", data=b"2"))
    assert (tmp_path / "a").read_bytes() == b"now a file"
    assert (tmp_path / "b" / "y").read_bytes() == b"2"
    apply(tmp_path, entry("b", "dir", mode=0o700), entry("b/z", data=b"3"))
    assert sorted(os.listdir(tmp_path / "b")) == ["y", "z"]


def test_whiteouts_remove_mode(tmp_path: Path) -> None:
    apply(
        tmp_path,
        entry("d", "dir"),
        entry("d/old1", data=b"1"),
        entry("d/sub", "dir"),
        entry("d/sub/f", data=b"x"),
        entry("keep", "dir"),
        entry("keep/gone", data=b"g"),
        entry("keep/stay", data=b"s"),
    )
    apply(
        tmp_path,
        entry("d/new", data=b"n"),  # same layer, before the opaque marker: kept
        entry("d/.wh..wh..opq", data=b""),
        entry("d/newer", data=b"n2"),
        entry("keep/.wh.gone"),
        entry("keep/.wh.never-existed"),
        entry("keep/mine", data=b"m"),
        entry("keep/.wh.mine"),  # whiteouts never hide their own layer's files
    )
    assert sorted(os.listdir(tmp_path / "d")) == ["new", "newer"]
    assert sorted(os.listdir(tmp_path / "keep")) == ["mine", "stay"]


@pytest.mark.skipif(not ROOT, reason="needs root (mknod 0/0, trusted xattrs)")
def test_whiteouts_overlay_mode(tmp_path: Path) -> None:
    apply(tmp_path, entry("d/.wh..wh..opq"), entry("e/.wh.gone"), entry("e/f", data=b"x"), mode="overlay")
    assert os.getxattr(tmp_path / "d", "trusted.overlay.opaque") == b"y"
    wh = (tmp_path / "e" / "gone").lstat()
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert not (tmp_path / "d" / ".wh..wh..opq").exists()


def test_bare_whiteout_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorruptLayer, match=r"'dir/\.wh\.': whiteout names no file"):
        apply(tmp_path, entry("dir", "dir"), entry("dir/.wh."))


# --- attacks: each is refused with an error naming the entry, or contained; ``outside`` never changes ---


def test_dotdot_entry_refused(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    before = snapshot(outside)
    with pytest.raises(UnsafeLayerEntry, match=r"'\.\./outside/victim' escapes the root"):
        apply(target, entry("../outside/victim", data=b"pwned"))
    with pytest.raises(UnsafeLayerEntry, match="escapes the root"):
        apply(target, entry("a/../../outside/victim", data=b"pwned"))
    assert snapshot(outside) == before


def test_absolute_entry_contained(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    apply(target, entry(str(outside / "victim"), data=b"pwned"))
    assert (outside / "victim").read_text() == "original"
    assert (target / str(outside / "victim").lstrip("/")).read_bytes() == b"pwned"


def test_symlink_parent_absolute_contained(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    before = snapshot(outside)
    # CVE-2018-15664 class: write through a symlinked parent directory
    with pytest.raises(LayerError, match="'evil/victim': parent 'evil' is a symlink to nothing inside"):
        apply(target, entry("evil", "symlink", linkname=str(outside)), entry("evil/victim", data=b"pwned"))
    assert snapshot(outside) == before
    (target / str(outside).lstrip("/")).mkdir(parents=True)
    apply(target, entry("evil/victim", data=b"pwned"))
    assert snapshot(outside) == before
    assert (target / str(outside).lstrip("/") / "victim").read_bytes() == b"pwned"


def test_symlink_parent_relative_contained(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    before = snapshot(outside)
    with pytest.raises(LayerError, match="'evil/victim': parent 'evil' is a symlink to nothing inside"):
        apply(target, entry("evil", "symlink", linkname="../outside"), entry("evil/victim", data=b"pwned"))
    (target / "outside").mkdir()
    apply(target, entry("evil/victim", data=b"pwned"))
    assert snapshot(outside) == before
    assert (target / "outside" / "victim").read_bytes() == b"pwned"  # '..' at the root stays at the root


def test_symlink_chain_in_parents_contained(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    before = snapshot(outside)
    apply(
        target,
        entry("a", "symlink", linkname="b/c"),
        entry("b", "dir"),
        entry("b/c", "symlink", linkname="../../../../.."),
        entry("a/d", "symlink", linkname=str(outside)),
        entry("a/victim", data=b"pwned"),
    )
    assert (target / "victim").read_bytes() == b"pwned"  # a -> b/c -> the root itself
    assert os.readlink(target / "d") == str(outside)
    with pytest.raises(LayerError, match="symlink to nothing inside the root"):
        apply(target, entry("a/d/victim", data=b"pwned"))
    assert snapshot(outside) == before


def test_symlink_then_file_over_it_replaces_the_link(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    apply(target, entry("victim", "symlink", linkname=str(outside / "victim")))
    apply(target, entry("victim", data=b"pwned"))  # must replace the link, not write through it
    assert (outside / "victim").read_text() == "original"
    assert (target / "victim").read_bytes() == b"pwned"


def test_hardlink_dotdot_refused(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    with pytest.raises(
        UnsafeLayerEntry, match=r"'h': hardlink target '\.\./outside/victim' escapes the root"
    ):
        apply(target, entry("h", "hardlink", linkname="../outside/victim"))
    assert (outside / "victim").stat().st_nlink == 1


def test_hardlink_absolute_and_via_symlink_contained(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    with pytest.raises(LayerError, match=r"'h1': hardlink target .* does not exist"):
        apply(target, entry("h1", "hardlink", linkname=str(outside / "victim")))
    with pytest.raises(LayerError, match="does not exist"):
        apply(
            target, entry("s", "symlink", linkname=str(outside)), entry("h2", "hardlink", linkname="s/victim")
        )
    assert (outside / "victim").stat().st_nlink == 1


def test_hardlink_to_symlink_links_the_symlink(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    apply(
        target, entry("s", "symlink", linkname=str(outside / "victim")), entry("h", "hardlink", linkname="s")
    )
    assert os.readlink(target / "h") == str(outside / "victim")
    assert (outside / "victim").stat().st_nlink == 1
    apply(target, entry("h", data=b"pwned"))
    assert (outside / "victim").read_text() == "original"


def test_whiteout_through_symlink_contained(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    apply(target, entry("evil", "symlink", linkname=str(outside)))
    apply(target, entry("evil/.wh.victim"))
    apply(target, entry("evil2", "symlink", linkname="../outside"))
    apply(target, entry("evil2/.wh..wh..opq"))
    assert (outside / "victim").read_text() == "original"


def test_whiteout_dotdot_refused(sandbox: tuple[Path, Path]) -> None:
    target, outside = sandbox
    with pytest.raises(UnsafeLayerEntry):
        apply(target, entry("../outside/.wh.victim"))
    with pytest.raises(CorruptLayer, match="whiteout names no file"):
        apply(target, entry("x/.wh.."))
    assert (outside / "victim").read_text() == "original"


def test_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(CorruptLayer, match="not a valid tar"):
        apply_tar(io.BytesIO(b"garbage" * 200), str(tmp_path))


def test_truncated_tar(tmp_path: Path) -> None:
    data = make_tar(entry("big", data=os.urandom(100000)))
    with pytest.raises(LayerError, match="big"):
        apply_tar(io.BytesIO(data[:50000]), str(tmp_path))


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_sparse_files(tmp_path: Path, fmt: str) -> None:
    # GNU tar's sparse members (old GNU and PAX forms): the holes come back, the entries after still apply
    import shutil
    import subprocess

    if shutil.which("tar") is None:
        pytest.skip("needs GNU tar")
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "holes", "wb") as f:
        f.write(b"head")
        f.seek(2 << 20)
        f.write(b"tail")
        f.truncate(3 << 20)
    (src / "after").write_text("after")
    archive = tmp_path / "sparse.tar"
    subprocess.run(
        ["tar", "--sparse", f"--format={fmt}", "-cf", str(archive), "-C", str(src), "holes", "after"],
        check=True,
    )
    target = tmp_path / "target"
    target.mkdir()
    apply_tar(io.BytesIO(archive.read_bytes()), str(target))
    assert (target / "holes").read_bytes() == (src / "holes").read_bytes()
    assert (target / "after").read_text() == "after"
