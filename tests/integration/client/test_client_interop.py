"""Interoperability with skopeo: an image pushed by ketch is copied by skopeo into a layout that umoci unpacks
and runc runs; an image pushed by skopeo (OCI and Docker schema2) is pulled by ketch, unpacked into a bundle
and run by ketch-runtime."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from client_registries import Registry

from ketch.cli.main import main
from ketch.image.store import ImageStore
from ketch.testing.peers import ketch_tool
from ketch.testing.peers import require as need

pytestmark = [pytest.mark.root, pytest.mark.peer, pytest.mark.slow]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_ketch_push_skopeo_pull_runc_run(
    registry: Registry, store: ImageStore, busybox: str, tmp_path: Path
) -> None:
    need("skopeo", "umoci", "runc")
    name = f"{registry.domain}/interop/busybox:v1"
    assert main(["--root", store.root, "push", "-q", busybox, name]) == 0
    layout = tmp_path / "layout"
    r = run("skopeo", "copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{layout}:v1")
    assert r.returncode == 0, r.stderr
    bundle = tmp_path / "bundle"
    r = run("umoci", "unpack", "--image", f"{layout}:v1", str(bundle))
    assert r.returncode == 0, r.stderr
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False  # umoci asks for a terminal; the test has none
    (bundle / "config.json").write_text(json.dumps(config))
    r = run(
        "runc", "--root", str(tmp_path / "runc"), "run", "--bundle", str(bundle), "ketch-client-interop-1"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["hello", "0"]


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_skopeo_push_ketch_pull_ketch_runtime_run(
    registry: Registry, store: ImageStore, busybox: str, tmp_path: Path, fmt: str
) -> None:
    need("skopeo")
    layout = tmp_path / "layout"
    assert (
        main(
            [
                "--root",
                store.root,
                "image",
                "export",
                "--format",
                "oci",
                "--ref-names",
                "tag",
                "-o",
                str(layout),
                busybox,
            ]
        )
        == 0
    )
    name = f"{registry.domain}/interop/from-skopeo:{fmt}"
    r = run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--format",
        fmt,
        f"oci:{layout}:latest",
        f"docker://{name}",
    )
    assert r.returncode == 0, r.stderr
    root = tmp_path / "pulled"
    assert main(["--root", str(root), "pull", "-q", name]) == 0
    pulled = ImageStore(str(root))
    target = pulled.get(name).target
    expected = (
        "application/vnd.oci.image.manifest.v1+json"
        if fmt == "oci"
        else "application/vnd.docker.distribution.manifest.v2+json"
    )
    assert target.media_type == expected
    bundle = tmp_path / "bundle"
    assert main(["--root", str(root), "image", "unpack", name, str(bundle)]) == 0
    rt = ketch_tool("ketch-runtime")
    cid = f"ketch-client-{fmt}"
    r = run(rt, "--root", str(tmp_path / "state"), "run", "--bundle", str(bundle), cid)
    run(rt, "--root", str(tmp_path / "state"), "delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["hello", "0"]
    # the layers were unpacked into the overlay snapshotter while they arrived
    assert len(list((root / "snapshots" / "overlay" / "layers").iterdir())) == 1


def test_ketch_push_ctr_pull_and_run(registry: Registry, store: ImageStore, busybox: str, short_tmp: Path) -> None:
    """An image pushed by ketch is pulled by containerd (ctr, plain HTTP on loopback) and runs there."""
    import uuid

    from ketch.testing.peers import containerd

    need("containerd", "ctr", "containerd-shim-runc-v2", "runc")
    name = f"{registry.domain}/interop/busybox:ctr"
    assert main(["--root", store.root, "push", "-q", busybox, name]) == 0
    ns = "kt" + uuid.uuid4().hex[:8]
    with containerd(str(short_tmp)) as address:
        ctr = ["ctr", "-a", address, "-n", ns]
        r = run(*ctr, "image", "pull", "--plain-http", name)
        assert r.returncode == 0, r.stderr
        r = run(*ctr, "run", "--rm", name, "ctr-interop")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["hello", "0"]
        run(*ctr, "image", "rm", name)
