"""Interoperability with real clients: skopeo, podman, containerd's ctr, and oras."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_proc import RegistryProcess

from ketch.testing import make_rootfs
from ketch.testing.tls import self_signed_cert

pytestmark = [pytest.mark.peer, pytest.mark.root]


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _run(*args: str, timeout: float = 120) -> str:
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args[0]} failed: {r.stderr[-2000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clients")


@pytest.fixture(scope="module")
def registry(workdir: Path) -> Iterator[RegistryProcess]:
    proc = RegistryProcess(workdir / "root").start()
    yield proc
    assert proc.stop() == 0


@pytest.fixture(scope="module")
def oci_image(workdir: Path) -> Path:
    """A busybox image in an OCI layout, made offline with umoci."""
    _need("umoci")
    layout = workdir / "oci"
    make_rootfs(str(workdir / "rootfs"))
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", f"{layout}:v1")
    _run("umoci", "insert", "--image", f"{layout}:v1", str(workdir / "rootfs"), "/")
    return layout


def _manifest_digest(layout: Path) -> str:
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def _read_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def test_skopeo_push_and_pull(registry: RegistryProcess, oci_image: Path, workdir: Path) -> None:
    _need("skopeo")
    ref = f"docker://{registry.addr}/test/busybox:v1"
    _run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{oci_image}:v1", ref)
    info = json.loads(_run("skopeo", "inspect", "--tls-verify=false", ref))
    assert info["Digest"] == _manifest_digest(oci_image)
    back = workdir / "back"
    _run("skopeo", "copy", "--src-tls-verify=false", ref, f"oci:{back}:v1")
    assert _manifest_digest(back) == _manifest_digest(oci_image)
    pulled = list((back / "blobs" / "sha256").iterdir())
    assert len(pulled) == 3  # manifest, config, layer
    for blob in pulled:
        assert (oci_image / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    tags = json.loads(
        _run("skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.addr}/test/busybox")
    )
    assert tags["Tags"] == ["v1"]


def test_podman_pull_and_push(registry: RegistryProcess, oci_image: Path, workdir: Path) -> None:
    _need("podman", "skopeo")
    _run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci:{oci_image}:v1",
        f"docker://{registry.addr}/pod/src:v1",
    )
    podman = [
        "podman", "--root", str(workdir / "proot"), "--runroot", str(workdir / "prun"),
        "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
    ]  # fmt: skip
    _run(*podman, "pull", "--tls-verify=false", f"{registry.addr}/pod/src:v1")
    _run(*podman, "tag", f"{registry.addr}/pod/src:v1", f"{registry.addr}/pod/copy:v2")
    _run(*podman, "push", "--tls-verify=false", f"{registry.addr}/pod/copy:v2")
    status, _, body = registry.request("GET", "/v2/pod/copy/tags/list")
    assert status == 200 and json.loads(body)["tags"] == ["v2"]
    subprocess.run([*podman, "rmi", "-a", "-f"], capture_output=True, timeout=60)


def test_containerd_ctr_pull_and_push(registry: RegistryProcess, oci_image: Path, workdir: Path) -> None:
    _need("containerd", "ctr", "skopeo")
    _run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci:{oci_image}:v1",
        f"docker://{registry.addr}/ctr/src:v1",
    )
    cd = workdir / "containerd"
    cd.mkdir()
    sock = cd / "containerd.sock"
    (cd / "config.toml").write_text(
        f'version = 2\nroot = "{cd}/root"\nstate = "{cd}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n[debug]\n  address = "{cd}/debug.sock"\n'
    )
    with open(cd / "log", "wb") as log:
        daemon = subprocess.Popen(["containerd", "--config", str(cd / "config.toml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        ctr = ["ctr", "--address", str(sock), "-n", "ketchtest"]
        _run(*ctr, "images", "pull", "--plain-http", "--snapshotter", "native", f"{registry.addr}/ctr/src:v1")
        _run(*ctr, "images", "tag", f"{registry.addr}/ctr/src:v1", f"{registry.addr}/ctr/copy:v3")
        _run(*ctr, "images", "push", "--plain-http", f"{registry.addr}/ctr/copy:v3")
        status, headers, _ = registry.request("HEAD", "/v2/ctr/copy/manifests/v3")
        assert status == 200 and headers["Docker-Content-Digest"] == _manifest_digest(oci_image)
    finally:
        daemon.terminate()
        daemon.wait(30)


def test_oras_artifact_with_subject_and_referrers(
    registry: RegistryProcess, oci_image: Path, workdir: Path
) -> None:
    oras_client = pytest.importorskip("oras.client")
    import oras.oci

    _need("skopeo")
    _run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci:{oci_image}:v1",
        f"docker://{registry.addr}/art/app:v1",
    )
    subject = _manifest_digest(oci_image)
    client = oras_client.OrasClient(hostname=registry.addr, insecure=True)
    sbom = workdir / "sbom.json"
    sbom.write_text('{"packages": ["busybox"]}')
    resp = client.push(
        target=f"{registry.addr}/art/app:sbom",
        files=[str(sbom)],
        disable_path_validation=True,
        subject=oras.oci.Subject(
            "application/vnd.oci.image.manifest.v1+json",
            subject,
            len(_read_blob(oci_image, subject)),
        ),
    )
    assert resp.status_code == 201
    assert resp.headers.get("OCI-Subject") == subject
    status, _, body = registry.request("GET", f"/v2/art/app/referrers/{subject}")
    assert status == 200
    referrers = json.loads(body)["manifests"]
    assert [r["digest"] for r in referrers] == [resp.headers["Docker-Content-Digest"]]
    out = workdir / "pulled"
    files = client.pull(target=f"{registry.addr}/art/app:sbom", outdir=str(out))
    assert [Path(f).read_text() for f in files] == ['{"packages": ["busybox"]}']


def test_skopeo_bearer_token_flow(oci_image: Path, workdir: Path) -> None:
    """A real client follows the Bearer challenge to the built-in token endpoint with its credentials."""
    _need("skopeo")
    import bcrypt

    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode() + "\n")
    secret = workdir / "token.key"
    secret.write_bytes(os.urandom(32).hex().encode())
    config = workdir / "auth.toml"
    config.write_text(f'[auth]\nmode = "token"\nhtpasswd = "{htpasswd}"\nsecret_file = "{secret}"\n')
    reg = RegistryProcess(workdir / "auth-root", "--config", str(config)).start()
    try:
        ref = f"docker://{reg.addr}/alice/bb:v1"
        _run(
            "skopeo",
            "copy",
            "--dest-creds",
            "alice:pw",
            "--dest-tls-verify=false",
            f"oci:{oci_image}:v1",
            ref,
        )
        info = json.loads(_run("skopeo", "inspect", "--creds", "alice:pw", "--tls-verify=false", ref))
        assert info["Digest"] == _manifest_digest(oci_image)
        for creds in (["--creds", "alice:wrong"], []):
            r = subprocess.run(
                ["skopeo", "inspect", *creds, "--tls-verify=false", ref],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode != 0
            assert "unauthorized" in r.stderr or "denied" in r.stderr
    finally:
        assert reg.stop() == 0


def test_podman_with_htpasswd_basic_auth(oci_image: Path, workdir: Path) -> None:
    _need("podman", "skopeo")
    import bcrypt

    htpasswd = workdir / "basic.htpasswd"
    htpasswd.write_text("bob:" + bcrypt.hashpw(b"builder", bcrypt.gensalt(rounds=4)).decode() + "\n")
    config = workdir / "basic.toml"
    config.write_text(f'[auth]\nmode = "htpasswd"\nhtpasswd = "{htpasswd}"\n')
    reg = RegistryProcess(workdir / "basic-root", "--config", str(config)).start()
    podman = [
        "podman", "--root", str(workdir / "proot2"), "--runroot", str(workdir / "prun2"),
        "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
    ]  # fmt: skip
    try:
        _run("skopeo", "copy", "--dest-creds", "bob:builder", "--dest-tls-verify=false", f"oci:{oci_image}:v1",
             f"docker://{reg.addr}/bob/base:v1")  # fmt: skip
        _run(*podman, "pull", "--creds", "bob:builder", "--tls-verify=false", f"{reg.addr}/bob/base:v1")
        r = subprocess.run([*podman, "pull", "--tls-verify=false", f"{reg.addr}/bob/base:v1"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
        assert r.returncode != 0  # no credentials
        _run(*podman, "tag", f"{reg.addr}/bob/base:v1", f"{reg.addr}/bob/copy:v2")
        _run(*podman, "push", "--creds", "bob:builder", "--tls-verify=false", f"{reg.addr}/bob/copy:v2")
        status, _, _ = reg.request("GET", "/v2/bob/copy/tags/list")
        assert status == 401
    finally:
        subprocess.run([*podman, "rmi", "-a", "-f"], capture_output=True, timeout=60)
        assert reg.stop() == 0


def test_skopeo_over_tls(oci_image: Path, workdir: Path) -> None:
    _need("skopeo", "openssl")
    tls = workdir / "tls"
    certs = tls / "certs"
    certs.mkdir(parents=True)
    self_signed_cert(tls / "cert.pem", tls / "key.pem")
    (certs / "ca.crt").write_bytes((tls / "cert.pem").read_bytes())
    reg = RegistryProcess(
        workdir / "tls-root",
        "--tls-cert",
        str(tls / "cert.pem"),
        "--tls-key",
        str(tls / "key.pem"),
        https=True,
    ).start()
    try:
        ref = f"docker://{reg.addr}/tls/bb:v1"
        _run("skopeo", "copy", "--dest-cert-dir", str(certs), f"oci:{oci_image}:v1", ref)
        info = json.loads(_run("skopeo", "inspect", "--cert-dir", str(certs), ref))
        assert info["Digest"] == _manifest_digest(oci_image)
        # without the CA the client refuses the server
        r = subprocess.run(["skopeo", "inspect", ref], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "x509" in r.stderr
    finally:
        assert reg.stop() == 0
