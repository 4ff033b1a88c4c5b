"""Images exported by ``ketch image export`` import into containerd and podman, and run there.

The image has three layers: busybox, then a layer adding files, then one with a whiteout (``bin/.wh.vi``)
and an opaque directory (``var/.wh..wh..opq``), so the other engines apply ketch's whiteouts too. Each
format (oci-archive, docker-archive) gets its own image name, so one engine holds both side by side.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_peers import need
from layer_tars import entry, make_tar

from ketch.cli.main import main
from ketch.image.blobs import put_layer
from ketch.image.build import write_image
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.linux.mount import MNT_DETACH
from ketch.linux.mount import umount2 as umount

pytestmark = [pytest.mark.root, pytest.mark.peer]

FORMATS = ("oci-archive", "docker-archive")
SCRIPT = "echo ok; cat /etc/ketch-added; ls /var; test -e /bin/vi || echo no-vi"
EXPECTED = ["ok", "added", "new", "no-vi"]

ADDS = make_tar(
    entry("etc/ketch-added", data=b"added\n"),
    entry("var/old", "dir"),
    entry("var/old/file", data=b"old"),
)
HIDES = make_tar(
    entry("bin/.wh.vi"),
    entry("var/.wh..wh..opq"),
    entry("var/new", data=b"new"),
)


def run(*args: str, timeout: float = 120) -> str:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
    return r.stdout


@pytest.fixture
def archives(store: ImageStore, busybox: str, tmp_path: Path) -> dict[str, tuple[str, Path]]:
    """format -> (image name, archive exported by ``ketch image export``) of the three-layer image."""
    base = load_image(store.content, store.get(busybox).target)
    layers = list(base.manifest.layers)
    config = base.config
    for tar in (ADDS, HIDES):
        desc, diff_id = put_layer(store.content, io.BytesIO(tar))
        layers.append(desc)
        config.rootfs.diff_ids.append(diff_id)
    out = {}
    for fmt in FORMATS:
        name = f"example.com/ketch/{fmt}:v1"
        write_image(store, config, layers, name=name)
        path = tmp_path / f"{fmt}.tar"
        assert main(["--root", store.root, "image", "export", name, "-o", str(path), "--format", fmt]) == 0
        out[fmt] = (name, path)
    return out


def _unmount_under(path: str) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        try:
            umount(point, MNT_DETACH)
        except OSError:
            pass


@pytest.fixture(scope="module")
def containerd() -> Iterator[str]:
    """The socket of a containerd of our own (own root, state and address; the CRI plugin off)."""
    need("containerd", "ctr", "runc")
    work = tempfile.mkdtemp(prefix="ketch-ctrd-", dir="/tmp")  # the socket path must stay short
    sock = os.path.join(work, "sock")
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
    log = open(os.path.join(work, "containerd.log"), "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            "containerd",
            "--config",
            config,
            "--root",
            os.path.join(work, "root"),
            "--state",
            os.path.join(work, "state"),
            "--address",
            sock,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if proc.poll() is not None:
                break
            ok = subprocess.run(["ctr", "-a", sock, "version"], capture_output=True, timeout=30)
            if ok.returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("containerd did not answer on its socket")
        if proc.poll() is not None:
            with open(os.path.join(work, "containerd.log")) as f:
                pytest.fail(f"containerd exited: {f.read()[-2000:]}")
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        _unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_containerd_imports_and_runs_ketch_export(
    containerd: str, archives: dict[str, tuple[str, Path]], fmt: str
) -> None:
    name, path = archives[fmt]
    ctr = ["ctr", "-a", containerd, "-n", f"ketch-{os.getpid()}-{fmt}"]
    run(*ctr, "image", "import", str(path))
    assert name in run(*ctr, "image", "ls", "-q").split()
    out = run(*ctr, "run", "--rm", name, f"ketch-{fmt}", "/bin/sh", "-c", SCRIPT)
    assert out.split() == EXPECTED


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_podman_loads_and_runs_ketch_export(
    archives: dict[str, tuple[str, Path]], tmp_path: Path, fmt: str
) -> None:
    need("podman")
    name, path = archives[fmt]
    runroot = tempfile.mkdtemp(prefix="ketch-podman-", dir="/tmp")  # podman wants it under 50 characters
    podman = ["podman", "--root", str(tmp_path / "proot"), "--runroot", runroot, "--storage-driver", "vfs"]
    try:
        assert name in run(*podman, "load", "-i", str(path))
        out = run(
            *podman,
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-manager",
            "cgroupfs",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
            name,
            "/bin/sh",
            "-c",
            SCRIPT,
        )
        assert out.split() == EXPECTED
    finally:
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, timeout=120)
        _unmount_under(runroot)
        _unmount_under(str(tmp_path / "proot"))
        shutil.rmtree(runroot, ignore_errors=True)
