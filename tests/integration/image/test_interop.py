"""Interoperability with umoci, skopeo and podman through OCI layouts and archives."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from image_peers import need

from ketch.image.archive import export_docker_archive, export_oci_archive, import_path
from ketch.image.bundle import unpack_bundle
from ketch.image.layout import export_layout
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.testing import make_rootfs

pytestmark = [pytest.mark.root, pytest.mark.peer]


def run(*args: str) -> str:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return r.stdout


def test_umoci_image_imports_unpacks_and_runs(store: ImageStore, tmp_path: Path) -> None:
    need("umoci", "runc")
    layout = tmp_path / "umoci"
    rootfs = make_rootfs(str(tmp_path / "rootfs"))
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:bb")
    run("umoci", "insert", "--image", f"{layout}:bb", rootfs, "/")
    run(
        "umoci",
        "config",
        "--image",
        f"{layout}:bb",
        "--config.cmd",
        "sh",
        "--config.cmd=-c",
        "--config.cmd=echo from-umoci; id -un",
        "--config.user",
        "daemon",
    )
    (imported,) = import_path(store, str(layout), "umoci/bb")
    assert imported.name == "docker.io/umoci/bb:bb"
    image = load_image(store.content, store.get("umoci/bb:bb").target)
    assert len(image.layers) == 1
    bundle = tmp_path / "bundle"
    unpack_bundle(store.content, image, str(bundle))
    r = subprocess.run(
        ["runc", "--root", str(tmp_path / "runc"), "run", "--bundle", str(bundle), "ketch-umoci"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["from-umoci", "daemon"]


def test_umoci_unpacks_ketch_export(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    need("umoci")
    layout = tmp_path / "layout"
    export_layout(store, [busybox], str(layout), ref_names="tag")
    run("umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "busybox").is_file()


def test_skopeo_reads_ketch_layout(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    need("skopeo")
    layout = tmp_path / "layout"
    export_layout(store, [busybox], str(layout), ref_names="tag")
    out = tmp_path / "copy.tar"
    run("skopeo", "copy", f"oci:{layout}:latest", f"oci-archive:{out}")
    other = ImageStore(str(tmp_path / "other"), durable=False)
    (imported,) = import_path(other, str(out), "copied")
    assert (
        load_image(other.content, imported.target).config.rootfs.diff_ids
        == load_image(store.content, store.get(busybox).target).config.rootfs.diff_ids
    )


@pytest.mark.slow
def test_podman_loads_ketch_archives(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    need("podman")
    store.put("example.com/ns/bb:v1", store.get(busybox).target)
    export_oci_archive(store, ["example.com/ns/bb:v1"], str(tmp_path / "oci.tar"))
    export_docker_archive(store, [busybox], str(tmp_path / "docker.tar"))
    runroot = tempfile.mkdtemp(prefix="ketch-podman-", dir="/tmp")  # podman wants it under 50 characters
    try:
        podman = [
            "podman",
            "--root",
            str(tmp_path / "proot"),
            "--runroot",
            runroot,
            "--storage-driver",
            "vfs",
        ]
        assert "example.com/ns/bb:v1" in run(*podman, "load", "-i", str(tmp_path / "oci.tar"))
        assert "docker.io/library/busybox:latest" in run(*podman, "load", "-i", str(tmp_path / "docker.tar"))
        images = run(*podman, "images", "--format", "{{.Repository}}:{{.Tag}}")
        assert set(images.split()) >= {"example.com/ns/bb:v1", "docker.io/library/busybox:latest"}
        # and back: archives podman writes import into ketch and unpack to the same tree
        for fmt in ("docker-archive", "oci-archive"):
            out = tmp_path / f"podman-{fmt}.tar"
            run(*podman, "save", "--format", fmt, "-o", str(out), "example.com/ns/bb:v1")
            other = ImageStore(str(tmp_path / f"other-{fmt}"), durable=False)
            (imported,) = import_path(other, str(out), "example.com/ns/bb:v1")
            image = load_image(other.content, imported.target)
            assert (
                image.config.rootfs.diff_ids
                == load_image(store.content, store.get(busybox).target).config.rootfs.diff_ids
            )
            unpack_bundle(other.content, image, str(tmp_path / f"bundle-{fmt}"))
            assert (tmp_path / f"bundle-{fmt}" / "rootfs" / "bin" / "busybox").is_file()
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
