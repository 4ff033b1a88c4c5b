"""Helpers for the registry client's tests: images built offline in an image store, sessions without any
host configuration, and a misbehaving registry (wrong bytes, connections cut mid-blob)."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from registry_helpers import image_manifest, sha256

from ketch._common.model import replace
from ketch.image.blobs import put_json
from ketch.image.build import layer_from_tar_writer, new_config, write_image
from ketch.image.layer.generate import tar_directory
from ketch.image.store import ImageStore
from ketch.registry.client import Repository, Session, SessionOptions
from ketch.spec.image import MT_OCI_INDEX, Descriptor, Index, Platform


def session(domain: str, tmp: Path, **kw: Any) -> Session:
    opts = SessionOptions(
        hosts_dir=str(kw.pop("hosts_dir", "")),
        auth_file=str(kw.pop("auth_file", tmp / "no-auth.json")),
        docker_config="",
        backoff=0.01,
        **kw,
    )
    return Session.open(domain, opts)


def repository(domain: str, path: str, tmp: Path, **kw: Any) -> Repository:
    return Repository(session(domain, tmp, **kw), path)


def build_image(
    store: ImageStore,
    tmp: Path,
    layers: list[dict[str, bytes]],
    *,
    name: str | None = None,
    architecture: str | None = None,
) -> Descriptor:
    """An image whose layers hold the given files (path -> content), lowest first."""
    descs, diff_ids = [], []
    with store.lease():
        for i, files in enumerate(layers):
            d = tmp / f"layer-{os.urandom(4).hex()}-{i}"
            for rel, data in files.items():
                (d / rel).parent.mkdir(parents=True, exist_ok=True)
                (d / rel).write_bytes(data)
            desc, diff_id = layer_from_tar_writer(store, lambda out, d=d: tar_directory(str(d), out))
            descs.append(desc)
            diff_ids.append(diff_id)
        config = new_config(diff_ids)
        if architecture is not None:
            config = replace(config, architecture=architecture, variant=None)
        return write_image(store, config, descs, name=name)


def build_index(store: ImageStore, manifests: list[Descriptor], name: str | None = None) -> Descriptor:
    with store.lease():
        desc = put_json(
            store.content, MT_OCI_INDEX, Index(manifests=manifests, media_type=MT_OCI_INDEX).to_json()
        )
        if name is not None:
            store.put(name, desc)
        return desc


def with_platform(desc: Descriptor, arch: str) -> Descriptor:
    return replace(desc, platform=Platform(architecture=arch, os="linux"))


class FakeRegistry:
    """A registry that serves fixed manifests and blobs, with faults: ``corrupt`` serves other bytes of the
    same length for a blob, ``cut_after`` closes the connection after that many body bytes of a full
    (non-Range) blob response. Counts Range requests."""

    def __init__(self) -> None:
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.corrupt: set[str] = set()
        self.cut_after: dict[str, int] = {}
        self.range_requests: list[str] = []
        self.unavailable = 0  # answer this many requests with 503 (Retry-After: 0) first
        self.served_503 = 0
        self.connections: set[tuple[str, int]] = set()  # client (address, port) pairs seen
        self.require_basic = False  # answer 401 with a Basic challenge to requests without Authorization
        self.redirect_blobs: str | None = None  # "http://host:port": blob GETs answered with a 307 there
        self.authorization_seen: list[str] = []  # Authorization headers received
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                fake.connections.add(self.client_address)
                path = self.path.split("?", 1)[0]
                auth = self.headers.get("Authorization")
                if auth:
                    fake.authorization_seen.append(auth)
                if fake.require_basic and not auth:
                    return self._send(401, b"", {"WWW-Authenticate": 'Basic realm="fake"'})
                if fake.redirect_blobs and "/blobs/" in path:
                    return self._send(307, b"", {"Location": fake.redirect_blobs + self.path})
                if fake.unavailable > 0:
                    fake.unavailable -= 1
                    fake.served_503 += 1
                    return self._send(
                        503, b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}', {"Retry-After": "0"}
                    )
                if path == "/v2/":
                    return self._send(200, b"{}")
                parts = path.split("/")
                if "manifests" in parts:
                    ref = parts[-1]
                    found = fake.manifests.get(ref)
                    if found is None:
                        return self._send(
                            404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
                        )
                    mt, body = found
                    return self._send(200, body, {"Content-Type": mt, "Docker-Content-Digest": sha256(body)})
                if "blobs" in parts:
                    digest = parts[-1]
                    data = fake.blobs.get(digest)
                    if data is None:
                        return self._send(
                            404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}'
                        )
                    if digest in fake.corrupt:
                        data = bytes(b ^ 0xFF for b in data)
                    rng = self.headers.get("Range")
                    if rng:
                        fake.range_requests.append(rng)
                        start = int(rng.split("=", 1)[1].split("-", 1)[0])
                        body = data[start:]
                        return self._send(
                            206, body, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
                        )
                    cut = fake.cut_after.pop(digest, None)
                    if cut is not None and self.command == "GET":
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[:cut])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return None
                    return self._send(200, data)
                return self._send(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeRegistry:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_image(self, tag: str, config: bytes, layers: list[bytes]) -> Descriptor:

        self.blobs[sha256(config)] = config
        for layer in layers:
            self.blobs[sha256(layer)] = layer
        body = image_manifest(config, layers)
        mt = "application/vnd.oci.image.manifest.v1+json"
        self.manifests[tag] = (mt, body)
        self.manifests[sha256(body)] = (mt, body)
        from ketch._common.digest import Digest

        return Descriptor(media_type=mt, digest=Digest(sha256(body)), size=len(body))


class CutUploadProxy:
    """TCP proxy to 127.0.0.1:``upstream``; the first PATCH request is cut after ``cut_at`` bytes of the
    request (headers included): the registry sees a chunk end early, the client a dropped connection."""

    def __init__(self, upstream: int, cut_at: int) -> None:
        import socket

        self.upstream = upstream
        self.cut_at = cut_at
        self.armed = True
        self.cuts = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: Any) -> None:
        import select
        import socket

        up = socket.create_connection(("127.0.0.1", self.upstream))
        cutting, sent = False, 0
        try:
            while True:
                ready, _, _ = select.select([client, up], [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is up:
                        client.sendall(data)
                        continue
                    if data.startswith(b"PATCH ") and self.armed:
                        self.armed, cutting, sent = False, True, 0
                    if cutting and sent + len(data) >= self.cut_at:
                        up.sendall(data[: self.cut_at - sent])
                        self.cuts += 1
                        return
                    sent += len(data)
                    up.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            up.close()

    def stop(self) -> None:
        self.sock.close()
