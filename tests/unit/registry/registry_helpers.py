"""Test helpers: a real registry server on 127.0.0.1 (ephemeral port) in a background thread, a tiny HTTP
client, and pushers for blobs and images."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ketch.registry.server import RegistryConfig, make_app
from ketch.testing.net import free_ports


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def codes(self) -> list[str]:
        return [e["code"] for e in json.loads(self.body)["errors"]]


class ServerThread:
    def __init__(self, config: RegistryConfig, ssl_context: Any = None) -> None:
        self.config = config
        self.ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.app: web.Application | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self.app = make_app(self.config)
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> ServerThread:
        self.thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("registry server did not start")
        return self

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(server: ServerThread, name: str, data: bytes) -> str:
    digest = sha256(data)
    r = server.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)
    assert r.status == 201, r.body
    return digest


def image_manifest(config: bytes, layers: list[bytes], **extra: Any) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(x), "size": len(x)}
            for x in layers
        ],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def push_image(
    server: ServerThread, name: str, tag: str, seed: bytes = b"x", **extra: Any
) -> tuple[str, bytes]:
    config = b'{"architecture":"amd64","os":"linux","seed":"' + seed + b'"}'
    layer = b"layer-" + seed
    push_blob(server, name, config)
    push_blob(server, name, layer)
    body = image_manifest(config, [layer], **extra)
    r = server.request(
        "PUT",
        f"/v2/{name}/manifests/{tag}",
        body,
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status == 201, r.body
    return r.headers["Docker-Content-Digest"], body


def weed_binary() -> str | None:
    import os
    import shutil
    import sys

    found = shutil.which("weed")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    return beside if os.access(beside, os.X_OK) else None




S3_ACCESS_KEY = "ketchtest"
S3_SECRET_KEY = "ketchtest-secret-key-0123456789"


def start_seaweedfs(workdir: str) -> tuple[str, Any]:
    """SeaweedFS (master, volume, filer, S3 gateway) on 127.0.0.1 with every port in 15000-15999 and
    telemetry off, requiring SigV4 requests signed with ``S3_ACCESS_KEY``/``S3_SECRET_KEY``; returns the S3
    endpoint and the process."""
    import subprocess
    import time
    import urllib.error
    import urllib.request

    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("weed")
    p = free_ports(8)
    identities = {
        "identities": [
            {
                "name": "ketch",
                "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    with open(f"{workdir}/s3.json", "w") as f:
        json.dump(identities, f)
    args = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={workdir}",
        f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
        "-filer", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
        "-s3", f"-s3.config={workdir}/s3.json", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.telemetry=false", "-volume.max=20", "-master.volumeSizeLimitMB=64",
    ]  # fmt: skip
    log = open(f"{workdir}/weed.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(args, stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{p[6]}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(f"{workdir}/weed.log") as f:
                raise RuntimeError(f"weed exited: {f.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"{endpoint}/", timeout=2).read()
        except urllib.error.HTTPError:
            return endpoint, proc  # answering (403 to anonymous): up
        except OSError:
            time.sleep(0.2)
            continue
        return endpoint, proc
    proc.kill()
    raise RuntimeError("SeaweedFS did not come up")
