"""Volumes seeded from the image's content (conversion.md: "MAY seed the contents of the mount")."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from layer_tars import entry, make_tar

from ketch.cli.main import main
from ketch.image.blobs import put_layer
from ketch.image.build import new_config, write_image
from ketch.image.convert import runtime_config
from ketch.image.errors import ConvertError
from ketch.image.store import ImageStore
from ketch.image.volumes import seed_volumes
from ketch.spec.image import ContainerConfig

ROOT = os.geteuid() == 0


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A rootfs whose /data holds files, links, a fifo and a hardlink pair; ``outside`` is a host dir."""
    r = tmp_path / "rootfs"
    (r / "data" / "sub").mkdir(parents=True)
    (r / "data" / "seed").write_text("from the image")
    (r / "data" / "sub" / "deep").write_text("deep")
    os.chmod(r / "data" / "sub", 0o750)
    os.chmod(r / "data", 0o1777)
    os.utime(r / "data" / "seed", (1000, 2000))
    os.symlink("/etc/shadow", r / "data" / "abs-link")
    os.mkfifo(r / "data" / "fifo", 0o640)
    os.link(r / "data" / "seed", r / "data" / "seed-again")
    os.setxattr(r / "data" / "seed", "user.tag", b"kept")
    (r / "file-not-dir").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    os.symlink("../../outside", r / "escape")  # resolved in the root: /outside of the image (absent)
    os.symlink("/data", r / "via-link")
    return r


def test_seed_copies_the_tree_with_its_metadata(rootfs: Path, tmp_path: Path) -> None:
    if ROOT:
        os.chown(rootfs / "data" / "sub" / "deep", 1000, 1001)
    got = seed_volumes(str(rootfs), ["/data", "/missing"], str(tmp_path / "vols"))
    assert got == {"/data": str(tmp_path / "vols" / "0"), "/missing": str(tmp_path / "vols" / "1")}
    v = tmp_path / "vols" / "0"
    assert (v / "seed").read_text() == "from the image"
    assert (v / "sub" / "deep").read_text() == "deep"
    assert stat.S_IMODE(v.stat().st_mode) == 0o1777
    assert stat.S_IMODE((v / "sub").stat().st_mode) == 0o750
    assert (v / "seed").stat().st_mtime == 2000
    assert os.readlink(v / "abs-link") == "/etc/shadow"  # copied as a link, never followed
    assert stat.S_ISFIFO((v / "fifo").lstat().st_mode)
    assert (v / "seed").stat().st_ino == (v / "seed-again").stat().st_ino
    assert os.getxattr(v / "seed", "user.tag") == b"kept"
    if ROOT:
        assert ((v / "sub" / "deep").stat().st_uid, (v / "sub" / "deep").stat().st_gid) == (1000, 1001)
    empty = tmp_path / "vols" / "1"
    assert os.listdir(empty) == [] and stat.S_IMODE(empty.stat().st_mode) == 0o755


def test_symlinked_volume_path_resolves_inside_the_image(rootfs: Path, tmp_path: Path) -> None:
    got = seed_volumes(str(rootfs), ["/escape", "/via-link"], str(tmp_path / "vols"))
    # /escape -> ../../outside stays in the root, where there is no /outside: an empty volume, no host secret
    assert os.listdir(got["/escape"]) == []
    assert (Path(got["/via-link"]) / "seed").read_text() == "from the image"


def test_volume_that_is_a_file_is_an_error(rootfs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConvertError, match="'/file-not-dir' is not a directory in the image"):
        seed_volumes(str(rootfs), ["/file-not-dir"], str(tmp_path / "vols"))


def test_copy_mode_bind_mounts_the_seeded_dirs(rootfs: Path) -> None:
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    img = new_config([], ContainerConfig(cmd=["x"], volumes={"/data": {}}))
    cfg = runtime_config(img, str(rootfs), volumes="copy", volume_sources={"/data": "/b/volumes/0"})
    assert [m for m in cfg["mounts"] if m["destination"] == "/data"] == [
        {"destination": "/data", "type": "bind", "source": "/b/volumes/0", "options": ["rbind", "rw"]}
    ]
    with pytest.raises(ConvertError, match="'/data' has no seeded directory"):
        runtime_config(img, str(rootfs), volumes="copy")


def test_unpack_with_copied_volumes(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "root"), durable=False)
    tar = make_tar(
        entry("etc", "dir"),
        entry("etc/passwd", data=b"root:x:0:0::/:/bin/sh\n"),
        entry("etc/group", data=b"root:x:0:\n"),
        entry("var", "dir"),
        entry("var/db", "dir", mode=0o700),
        entry("var/db/state", data=b"initial"),
    )
    layer, diff_id = put_layer(store.content, io.BytesIO(tar))
    config = ContainerConfig(cmd=["true"], volumes={"/var/db": {}})
    write_image(store, new_config([diff_id], config), [layer], name="withvol")
    bundle = tmp_path / "bundle"
    assert main(["--root", store.root, "image", "unpack", "--volumes", "copy", "withvol", str(bundle)]) == 0
    (mount,) = [m for m in json.loads((bundle / "config.json").read_text())["mounts"] if m["type"] == "bind"]
    assert mount["destination"] == "/var/db" and mount["source"] == str(bundle / "volumes" / "0")
    assert (bundle / "volumes" / "0" / "state").read_text() == "initial"
    assert stat.S_IMODE((bundle / "volumes" / "0").stat().st_mode) == 0o700
