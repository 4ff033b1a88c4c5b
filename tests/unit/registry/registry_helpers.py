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
