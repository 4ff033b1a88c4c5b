"""The server under stress: SIGKILL in the middle of concurrent uploads, 50 concurrent clients, graceful
shutdown with a request in flight, and collection while pushes go on."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from registry_proc import RegistryProcess, sha256

pytestmark = pytest.mark.slow

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _verify_store(root: Path) -> int:
    """Every blob file holds exactly the bytes its path names; returns how many there are."""
    count = 0
    for data in (root / "v2" / "blobs").rglob("data"):
        alg, hexdigest = data.parent.parent.parent.name, data.parent.name
        assert hashlib.new(alg, data.read_bytes()).hexdigest() == hexdigest, (
            f"{data} does not match its digest"
        )
        count += 1
    return count


def _chunked_push(reg: RegistryProcess, repo: str, data: bytes, chunk: int) -> str:
    status, headers, _ = reg.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    loc = headers["Location"]
    for off in range(0, len(data), chunk):
        part = data[off : off + chunk]
        status, headers, body = reg.request(
            "PATCH", loc, part, {"Content-Range": f"{off}-{off + len(part) - 1}"}
        )
        assert status == 202, body
    status, _, body = reg.request("PUT", f"{loc}?digest={sha256(data)}")
    assert status == 201, body
    return sha256(data)


def test_sigkill_mid_uploads_leaves_only_valid_blobs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    reg = RegistryProcess(root).start()
    completed: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(i: int) -> None:
        for n in range(40):  # bounded; the kill usually lands long before
            if stop.is_set():
                return
            data = os.urandom(300_000 + 1000 * i + n)
            try:
                digest = _chunked_push(reg, f"crash/w{i}", data, 64 * 1024)
            except (OSError, AssertionError, http.client.HTTPException):
                return  # the server died under us
            with lock:
                completed.append((f"crash/w{i}", digest))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(completed) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reg.proc is not None
    reg.proc.send_signal(signal.SIGKILL)
    reg.proc.wait()
    stop.set()
    for t in threads:
        t.join(60)
    assert len(completed) >= 12

    reg2 = RegistryProcess(root, port=reg.port).start()
    try:
        assert _verify_store(root) >= len(completed)
        for repo, digest in completed:
            status, _headers, body = reg2.request("GET", f"/v2/{repo}/blobs/{digest}")
            assert status == 200 and sha256(body) == digest
        # the registry still takes pushes after the crash
        _chunked_push(reg2, "crash/after", os.urandom(100_000), 30_000)
    finally:
        assert reg2.stop() == 0
    # no temporary file was left where readers could see it as a blob
    assert not [
        p
        for p in (root / "v2" / "blobs").rglob("*")
        if p.is_file() and p.name != "data" and not p.name.startswith(".tmp-")
    ]


def test_fifty_concurrent_clients(tmp_path: Path) -> None:
    reg = RegistryProcess(tmp_path / "root").start()
    errors: list[str] = []
    shared = os.urandom(200_000)

    def client(i: int) -> None:
        try:
            repo = f"load/c{i % 10}"
            config = json.dumps({"client": i}).encode()
            own = os.urandom(20_000 + i)
            for blob in (config, own, shared):
                status, _, body = reg.request(
                    "POST", f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", blob
                )
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
                            "digest": sha256(b),
                            "size": len(b),
                        }
                        for b in (own, shared)
                    ],
                }
            ).encode()
            status, _headers, body = reg.request(
                "PUT", f"/v2/{repo}/manifests/t{i}", manifest, {"Content-Type": MANIFEST}
            )
            assert status == 201, body
            for _ in range(5):
                status, _, got = reg.request("GET", f"/v2/{repo}/manifests/t{i}")
                assert status == 200 and got == manifest
                status, _, got = reg.request("GET", f"/v2/{repo}/blobs/{sha256(own)}")
                assert status == 200 and got == own
                status, _, _ = reg.request("HEAD", f"/v2/{repo}/blobs/{sha256(shared)}")
                assert status == 200
        except Exception as e:  # collected and reported below
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        _status, _, body = reg.request("GET", "/v2/_catalog")
        assert json.loads(body)["repositories"] == [f"load/c{i}" for i in range(10)]
        _verify_store(tmp_path / "root")
        # the shared layer is stored once
        assert len(list((tmp_path / "root" / "v2" / "blobs").rglob(sha256(shared).split(":")[1]))) == 1
    finally:
        assert reg.stop() == 0


def test_graceful_shutdown_finishes_in_flight_request(tmp_path: Path) -> None:
    reg = RegistryProcess(tmp_path / "root").start()
    status, headers, _ = reg.request("POST", "/v2/g/blobs/uploads/")
    loc = headers["Location"]
    data = os.urandom(2_000_000)
    conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=30)
    conn.putrequest("PATCH", loc)
    conn.putheader("Content-Length", str(len(data)))
    conn.putheader("Content-Range", f"0-{len(data) - 1}")
    conn.endheaders()
    conn.send(data[:1_000_000])
    time.sleep(0.3)
    assert reg.proc is not None
    reg.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert reg.proc.poll() is None  # still finishing our request
    conn.send(data[1_000_000:])
    resp = conn.getresponse()
    assert resp.status == 202 and resp.getheader("Range") == f"0-{len(data) - 1}"
    resp.read()
    conn.close()
    assert reg.proc.wait(30) == 0
    # the upload survived the restart and can be finished
    reg2 = RegistryProcess(tmp_path / "root", port=reg.port).start()
    try:
        status, _, body = reg2.request("PUT", f"{loc}?digest={sha256(data)}")
        assert status == 201, body
    finally:
        reg2.stop()


def test_online_gc_during_pushes(tmp_path: Path) -> None:
    """Collection running in a loop (grace 0) while images are pushed: every completed push stays whole."""
    config = tmp_path / "r.toml"
    config.write_text("[gc]\ninterval = 0.05\ngrace = 0\n")
    reg = RegistryProcess(tmp_path / "root", "--config", str(config)).start()
    failures = []
    try:
        for i in range(30):
            cfg, layer = json.dumps({"i": i}).encode(), os.urandom(5000)
            for blob in (cfg, layer):
                reg.request("POST", f"/v2/gc/app/blobs/uploads/?digest={sha256(blob)}", blob)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST,
                    "config": {"mediaType": "application/x.c", "digest": sha256(cfg), "size": len(cfg)},
                    "layers": [{"mediaType": "application/x.l", "digest": sha256(layer), "size": len(layer)}],
                }
            ).encode()
            status, _, body = reg.request(
                "PUT", f"/v2/gc/app/manifests/v{i}", manifest, {"Content-Type": MANIFEST}
            )
            if status == 400 and b"MANIFEST_BLOB_UNKNOWN" in body:
                # grace 0 lets the collector take blobs not yet referenced: the client re-pushes them
                failures.append(i)
                continue
            assert status == 201, body
            for blob in (cfg, layer):
                status, _, got = reg.request("GET", f"/v2/gc/app/blobs/{sha256(blob)}")
                assert status == 200 and got == blob
        time.sleep(0.3)
        for i in range(30):
            if i in failures:
                continue
            status, _, body = reg.request("GET", f"/v2/gc/app/manifests/v{i}")
            assert status == 200
            doc = json.loads(body)
            for desc in (doc["config"], *doc["layers"]):
                status, _, got = reg.request("GET", f"/v2/gc/app/blobs/{desc['digest']}")
                assert status == 200 and sha256(got) == desc["digest"]
        _verify_store(tmp_path / "root")
    finally:
        assert reg.stop() == 0


def test_two_processes_on_one_root_share_uploads(tmp_path: Path) -> None:
    a = RegistryProcess(tmp_path / "root").start()
    b = RegistryProcess(tmp_path / "root").start()
    try:
        data = os.urandom(1_500_000)
        _, headers, _ = a.request("POST", "/v2/two/blobs/uploads/")
        loc = headers["Location"]
        assert a.request("PATCH", loc, data[:500_000], {"Content-Range": "0-499999"})[0] == 202
        assert b.request("PATCH", loc, data[500_000:1_000_000], {"Content-Range": "500000-999999"})[0] == 202
        status, _, body = a.request("PUT", f"{loc}?digest={sha256(data)}", data[1_000_000:])
        assert status == 201, body
        status, _, body = b.request("GET", f"/v2/two/blobs/{sha256(data)}")
        assert status == 200 and body == data
    finally:
        assert a.stop() == 0 and b.stop() == 0
