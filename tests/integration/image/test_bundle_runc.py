"""``ketch image unpack`` bundles run under runc."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from image_peers import need

from ketch.cli.main import main
from ketch.image.store import ImageStore

pytestmark = [pytest.mark.root, pytest.mark.peer]


def runc_run(tmp_path: Path, bundle: Path, cid: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runc", "--root", str(tmp_path / "runc"), "run", "--bundle", str(bundle), cid],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_unpacked_busybox_runs(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    need("runc")
    bundle = tmp_path / "bundle"
    assert main(["--root", store.root, "image", "unpack", busybox, str(bundle)]) == 0
    r = runc_run(tmp_path, bundle, "ketch-it-1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["hello", "0"]


def test_user_from_image_passwd(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    need("runc")
    from ketch.image.bundle import unpack_rootfs
    from ketch.image.commit import commit_rootfs
    from ketch.image.resolve import load_image
    from ketch.spec.image import ContainerConfig

    # derive an image with User=daemon and a new file, through commit
    rootfs = tmp_path / "work"
    rootfs.mkdir()
    unpack_rootfs(store.content, load_image(store.content, store.get(busybox).target), str(rootfs))
    (rootfs / "etc" / "motd").write_text("committed\n")
    commit_rootfs(
        store,
        busybox,
        str(rootfs),
        "derived",
        config=ContainerConfig(user="daemon", cmd=["sh", "-c", "cat /etc/motd; id -u; id -g"]),
    )
    bundle = tmp_path / "bundle"
    assert main(["--root", store.root, "image", "unpack", "derived", str(bundle)]) == 0
    r = runc_run(tmp_path, bundle, "ketch-it-2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["committed", "1", "1"]


def test_volume_seeded_from_the_image(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    need("runc")
    from ketch.image.bundle import unpack_rootfs
    from ketch.image.commit import commit_rootfs
    from ketch.image.resolve import load_image
    from ketch.spec.image import ContainerConfig

    rootfs = tmp_path / "work"
    rootfs.mkdir()
    unpack_rootfs(store.content, load_image(store.content, store.get(busybox).target), str(rootfs))
    (rootfs / "srv" / "data").mkdir(parents=True)
    (rootfs / "srv" / "data" / "seed").write_text("seeded\n")
    commit_rootfs(
        store,
        busybox,
        str(rootfs),
        "with-volume",
        config=ContainerConfig(
            volumes={"/srv/data": {}}, cmd=["sh", "-c", "cat /srv/data/seed; echo written > /srv/data/new"]
        ),
    )
    bundle = tmp_path / "bundle"
    assert (
        main(["--root", store.root, "image", "unpack", "--volumes", "copy", "with-volume", str(bundle)]) == 0
    )
    r = runc_run(tmp_path, bundle, "ketch-it-3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["seeded"]
    # the write went to the volume, not to the container's root filesystem
    assert (bundle / "volumes" / "0" / "new").read_text() == "written\n"
    assert not (bundle / "rootfs" / "srv" / "data" / "new").exists()
