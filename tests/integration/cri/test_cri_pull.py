"""PullImage from ketch's own registry server on 127.0.0.1 (htpasswd auth), with credentials taken from
the request, and a container run from the pulled image."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import grpc
import pytest

from ketch.cri.client import CriClient, pb
from ketch.cri.harness import BUSYBOX
from ketch.image.layout import export_layout
from ketch.image.store import ImageStore
from ketch.testing.net import free_port
from ketch.testing.peers import require

pytestmark = [pytest.mark.root, pytest.mark.peer]




@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, ketchd) -> Iterator[str]:  # type: ignore[no-untyped-def]
    require("skopeo")
    base = tmp_path_factory.mktemp("registry")
    htpasswd = base / "htpasswd"
    htpasswd.write_bytes(b"kube:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=5)) + b"\n")
    port = free_port()
    cfg = base / "registry.toml"
    cfg.write_text(f'addr = "127.0.0.1:{port}"\nroot = "{base / "data"}"\n'
                   f'[auth]\nmode = "htpasswd"\nhtpasswd = "{htpasswd}"\n')
    src = str(Path(__file__).resolve().parents[3] / "src")
    env = dict(os.environ, PYTHONPATH=src)
    with open(base / "registry.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ketch.cli.registry", "serve", "--config", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (base / "registry.log").read_text()
            time.sleep(0.05)
        # Push the test image there with skopeo, from an OCI layout exported by ketch.
        store = ImageStore(os.path.join(ketchd.base, "root", "image"))
        layout = str(base / "layout")
        export_layout(store, [BUSYBOX], layout, ref_names="tag")
        push = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", "kube:s3cret",
                               f"oci:{layout}:1", f"docker://127.0.0.1:{port}/team/app:7"], capture_output=True)
        assert push.returncode == 0, push.stderr.decode()
        yield f"127.0.0.1:{port}/team/app:7"
    finally:
        proc.terminate()
        proc.wait(10)


def test_pull_with_request_credentials_then_run(k: CriClient, registry: str, logdir: str) -> None:
    spec = pb.ImageSpec(image=registry)
    with pytest.raises(grpc.RpcError) as e:
        k.call("PullImage", pb.PullImageRequest(image=spec), image=True)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as e:
        k.call("PullImage", pb.PullImageRequest(image=spec, auth=pb.AuthConfig(username="kube", password="no")),
               image=True)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    ref = k.call("PullImage", pb.PullImageRequest(
        image=spec, auth=pb.AuthConfig(username="kube", password="s3cret")), image=True).image_ref
    status = k.call("ImageStatus", pb.ImageStatusRequest(image=spec), image=True).image
    assert status.id == ref and registry in status.repo_tags
    pcfg = k.pod_config("pulled", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("app", registry, ["echo", "from the registry"]), pcfg)
        k.start(cid)
        assert k.wait_state(cid, pb.CONTAINER_EXITED).exit_code == 0
        with open(os.path.join(logdir, "app.log")) as f:
            assert f.read().rstrip().endswith("stdout F from the registry")
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)
    # The pulled image is the test image pushed earlier: one image (config digest), two names.
    local = k.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=BUSYBOX)), image=True).image
    assert local.id == status.id and {BUSYBOX, registry} <= set(local.repo_tags)


def test_pull_of_a_missing_image_and_unreachable_registry(k: CriClient, registry: str) -> None:
    host = registry.split("/")[0]
    with pytest.raises(grpc.RpcError) as e:
        k.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=f"{host}/team/absent:1"),
                                                auth=pb.AuthConfig(username="kube", password="s3cret")),
               image=True)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        k.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image="127.0.0.1:1/none:1")), image=True)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
