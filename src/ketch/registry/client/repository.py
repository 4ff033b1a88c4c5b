"""The distribution-spec operations on one repository (spec.md "Pull", "Push", "Content Discovery").

Every blob and manifest that comes in is checked against its digest and size; the endpoints are those of
:mod:`ketch.registry.api.routes`, shared with the server.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import BinaryIO, Protocol
from urllib.parse import urlencode

from urllib3.exceptions import HTTPError

from ketch._common.digest import Digest, InvalidDigest
from ketch.registry.api import parse_link_next, parse_upload_range, route
from ketch.registry.api.headers import HeaderError
from ketch.registry.client.auth import Scope
from ketch.registry.client.errors import (
    ClientError,
    ConnectError,
    ContentMismatch,
    ResponseError,
    Unsupported,
)
from ketch.registry.client.hosts import Endpoint
from ketch.registry.client.session import Session
from ketch.registry.client.transport import Response, describe_failure
from ketch.spec.distribution import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from ketch.spec.image import Descriptor

__all__ = [
    "MANIFEST_ACCEPT",
    "MAX_MANIFEST",
    "BlobWriter",
    "Repository",
    "UploadResult",
]

# spec.md "Pulling manifests": the client SHOULD list every manifest type it understands in Accept.
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_INDEX,
        OCI_MANIFEST,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST,
        "application/vnd.oci.artifact.manifest.v1+json",
    ]
)
MAX_MANIFEST = 4 << 20
_BLOB_CHUNK = 1 << 20
_MAX_RESUMES = 8

UploadResult = str  # "exists", "mounted" or "uploaded"


class BlobWriter(Protocol):
    """Where a fetched blob goes: an ingest of a content store (``ContentWriter`` fits)."""

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> None: ...


def _media_type(resp: Response) -> str:
    return (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip()


class _Counting:
    """A file wrapper reporting how many bytes were read (upload progress)."""

    def __init__(self, f: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self._f = f
        self._on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data and self._on_bytes is not None:
            self._on_bytes(len(data))
        return data

    def close(self) -> None:
        self._f.close()


class Repository:
    """``<domain>/<path>`` on a registry reached through ``session``."""

    def __init__(self, session: Session, path: str) -> None:
        self.session = session
        self.path = path
        self.pull_scopes = [Scope.repository(path, "pull")]
        self.push_scopes = [Scope.repository(path, "pull", "push")]
        self._push_endpoint: Endpoint | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.session.domain}/{self.path}"

    # -- manifests ---------------------------------------------------------------------------------

    def _manifest_path(self, reference: str) -> str:
        return route("end-3").url(name=self.path, reference=reference)

    def _manifest_name(self, reference: str) -> str:
        """How errors name the manifest: ``name:tag``, or ``name@digest`` (a tag never holds a colon)."""
        sep = ":" if ":" not in reference else "@"
        return f"manifest {self.name}{sep}{reference}"

    def resolve(self, reference: str) -> Descriptor:
        """The descriptor a tag or digest names: a HEAD, or a GET when the HEAD lacks the digest."""
        what = self._manifest_name(reference)
        _, resp = self.session.send(
            "HEAD",
            self._manifest_path(reference),
            scopes=self.pull_scopes,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        self.session.check(resp, what)
        header = resp.headers.get("Docker-Content-Digest")
        media_type = _media_type(resp)
        length = resp.headers.get("Content-Length")
        if header and media_type and length and length.isdigit():
            try:
                digest = Digest(header)
            except InvalidDigest:
                digest = None
            if digest is not None and (":" not in reference or digest == reference):
                return Descriptor(media_type=media_type, digest=digest, size=int(length))
        desc, _ = self.fetch_manifest(reference)
        return desc

    def fetch_manifest(self, reference: str, expected: Descriptor | None = None) -> tuple[Descriptor, bytes]:
        """GET a manifest by tag or digest; the body is checked against the digest asked for (or ``expected``)
        and against the ``Docker-Content-Digest`` the registry sends."""
        what = self._manifest_name(reference)
        _, resp = self.session.send(
            "GET",
            self._manifest_path(reference),
            scopes=self.pull_scopes,
            headers={"Accept": MANIFEST_ACCEPT},
            stream=True,
        )
        try:
            self.session.check(resp, what)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_MANIFEST:
                raise ContentMismatch(f"{what} is {length} bytes, more than the {MAX_MANIFEST} allowed")
            data = resp.read(MAX_MANIFEST + 1)
            if len(data) > MAX_MANIFEST:
                raise ContentMismatch(f"{what} is more than the {MAX_MANIFEST} bytes allowed")
        except (HTTPError, OSError) as e:
            raise ConnectError(f"{what}: {describe_failure(e)}") from None
        finally:
            resp.release_conn()
        want: Digest | None = expected.digest if expected is not None else None
        if want is None and ":" in reference:
            want = Digest(reference)
        algorithm = want.algorithm if want is not None else "sha256"
        actual = Digest(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")
        if want is not None and actual != want:
            raise ContentMismatch(f"{what}: the registry sent content with digest {actual}")
        if expected is not None and expected.size != len(data):
            raise ContentMismatch(f"{what}: {len(data)} bytes received, the descriptor says {expected.size}")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith(algorithm + ":") and header != actual:
            raise ContentMismatch(
                f"{what}: Docker-Content-Digest {header} does not match the content {actual}"
            )
        media_type = _media_type(resp) or (expected.media_type if expected is not None else "")
        if expected is not None and expected.media_type and media_type != expected.media_type:
            media_type = expected.media_type  # the descriptor that names it is authoritative
        if not media_type:
            media_type = _sniff_media_type(data)
        return Descriptor(media_type=media_type, digest=actual, size=len(data)), data

    def put_manifest(self, reference: str, media_type: str, data: bytes) -> tuple[Digest, Response]:
        """PUT a manifest under a tag or its digest; returns its digest (checked against the registry's)."""
        digest = Digest.from_bytes(data)
        what = self._manifest_name(reference)
        _, resp = self.session.send(
            "PUT",
            self._manifest_path(reference),
            scopes=self.push_scopes,
            capability="push",
            headers={"Content-Type": media_type},
            body=data,
        )
        self.session.check(resp, f"pushing {what}")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != digest:
            raise ContentMismatch(f"pushing {what}: the registry stored {header}, expected {digest}")
        return digest, resp

    def delete_manifest(self, reference: str) -> None:
        _, resp = self.session.send(
            "DELETE",
            self._manifest_path(reference),
            scopes=[Scope.repository(self.path, "delete")],
            capability="push",
        )
        self.session.check(resp, f"deleting manifest {self.name}:{reference}")

    # -- blobs -------------------------------------------------------------------------------------

    def _blob_path(self, digest: Digest) -> str:
        return route("end-2").url(name=self.path, digest=digest)

    def blob_size(self, digest: Digest, *, capability: str = "pull") -> int | None:
        """The size of a blob the repository holds, or None."""
        scopes = self.push_scopes if capability == "push" else self.pull_scopes
        _, resp = self.session.send("HEAD", self._blob_path(digest), scopes=scopes, capability=capability)
        if resp.status == 404:
            return None
        self.session.check(resp, f"blob {self.name}@{digest}")
        length = resp.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else -1

    def read_blob(self, desc: Descriptor, limit: int = MAX_MANIFEST) -> bytes:
        """A small blob (a config), verified."""
        if desc.size > limit:
            raise ContentMismatch(f"blob {self.name}@{desc.digest} is {desc.size} bytes, more than {limit}")
        buf = _Buffer()
        self.fetch_blob(desc, buf)
        data = bytes(buf.data)
        if (
            Digest(f"{desc.digest.algorithm}:{hashlib.new(desc.digest.algorithm, data).hexdigest()}")
            != desc.digest
        ):
            raise ContentMismatch(f"blob {self.name}@{desc.digest}: the registry sent other content")
        return data

    def fetch_blob(
        self,
        desc: Descriptor,
        writer: BlobWriter,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Stream a blob into ``writer`` from ``writer.offset`` on (a resumed ingest asks for the rest with
        ``Range``, RFC 9110 14.2). A connection cut mid-body is resumed the same way, up to a few times.
        More bytes than ``desc.size`` are refused before they are written; the digest is the writer's to
        check on commit."""
        what = f"blob {self.name}@{desc.digest}"
        resumes = 0
        while True:
            offset = writer.offset
            if offset >= desc.size:
                return
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                _, resp = self.session.send(
                    "GET", self._blob_path(desc.digest), scopes=self.pull_scopes, headers=headers, stream=True
                )
            except ConnectError:
                if resumes >= _MAX_RESUMES:
                    raise
                resumes += 1
                time.sleep(min(0.1 * 2**resumes, 5.0))
                continue
            try:
                skip = 0
                if resp.status == 206:
                    start = _content_range_start(resp.headers.get("Content-Range"))
                    if start != offset:
                        raise ContentMismatch(
                            f"{what}: asked for bytes from {offset}, the registry sent from {start}"
                        )
                elif resp.status == 200:
                    skip = offset  # the registry ignored Range: drop what the ingest already has
                else:
                    self.session.check(resp, what)
                    raise ResponseError(f"{what}: unexpected status {resp.status}", resp.status)
                for chunk in resp.stream(_BLOB_CHUNK):
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk = chunk[skip:]
                        skip = 0
                    if writer.offset + len(chunk) > desc.size:
                        raise ContentMismatch(
                            f"{what}: the registry sent more than the {desc.size} bytes announced"
                        )
                    writer.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
            except (HTTPError, OSError) as e:
                if (
                    isinstance(e, OSError)
                    and not isinstance(e, (ConnectionError, TimeoutError))
                    and e.errno is not None
                ):
                    raise  # a local write failed (ENOSPC, EIO): not the network's fault
                if resumes >= _MAX_RESUMES:
                    raise ConnectError(f"{what}: {describe_failure(e)} after {resumes} resumes") from None
                resumes += 1
                time.sleep(min(0.05 * 2**resumes, 5.0))
                continue
            finally:
                resp.release_conn()
            if writer.offset < desc.size:
                # The body ended early without an error (no Content-Length): resume as for a cut.
                if resumes >= _MAX_RESUMES:
                    raise ContentMismatch(f"{what}: the registry sent {writer.offset} of {desc.size} bytes")
                resumes += 1
                continue
            return

    def mount_blob(self, digest: Digest, source: str) -> tuple[bool, Endpoint, str | None]:
        """Ask for ``digest`` to be mounted from the repository ``source`` of the same registry
        (spec.md "Mounting a blob from another repository"). Returns (mounted, endpoint, upload location);
        a registry that cannot mount opens an ordinary upload session instead (202)."""
        query = urlencode({"mount": str(digest), "from": source})
        path = route("end-11").url(name=self.path) + "?" + query
        ep, resp = self.session.send(
            "POST",
            path,
            scopes=[*self.push_scopes, Scope.repository(source, "pull")],
            capability="push",
            headers={"Content-Length": "0"},
            body=b"",
        )
        if resp.status == 201:
            return True, ep, None
        if resp.status == 202:
            return False, ep, resp.headers.get("Location")
        if resp.status in (401, 403, 404):
            return False, ep, None  # no pull access to the source: upload instead
        self.session.check(resp, f"mounting blob {digest} from {source} into {self.name}")
        return False, ep, None

    def _start_upload(self) -> tuple[Endpoint, str]:
        ep, resp = self.session.send(
            "POST",
            route("end-4a").url(name=self.path),
            scopes=self.push_scopes,
            capability="push",
            headers={"Content-Length": "0"},
            body=b"",
        )
        self.session.check(resp, f"starting an upload to {self.name}")
        location = resp.headers.get("Location")
        if resp.status != 202 or not location:
            raise ResponseError(
                f"starting an upload to {self.name}: no upload location (status {resp.status})", resp.status
            )
        return ep, location

    def upload_blob(
        self,
        desc: Descriptor,
        opener: Callable[[], BinaryIO],
        *,
        on_bytes: Callable[[int], None] | None = None,
        mount_from: list[str] | tuple[str, ...] = (),
        chunk_threshold: int = 32 << 20,
        chunk_size: int = 16 << 20,
        check_exists: bool = True,
    ) -> UploadResult:
        """Make the repository hold ``desc``: nothing if it has it (HEAD), a mount if another repository of
        the registry has it, else an upload (monolithic PUT up to ``chunk_threshold``, chunked PATCHes above:
        spec.md "Pushing blobs")."""
        if check_exists and self.blob_size(desc.digest, capability="push") is not None:
            if on_bytes is not None:
                on_bytes(desc.size)
            return "exists"
        ep: Endpoint | None = None
        location: str | None = None
        for source in mount_from:
            if source == self.path:
                continue
            mounted, ep, location = self.mount_blob(desc.digest, source)
            if mounted:
                if on_bytes is not None:
                    on_bytes(desc.size)
                return "mounted"
            if location:
                break
        if location is None or ep is None:
            ep, location = self._start_upload()
        if desc.size <= chunk_threshold:
            self._put_monolithic(ep, location, desc, opener, on_bytes)
        else:
            self._put_chunked(ep, location, desc, opener, on_bytes, chunk_size)
        return "uploaded"

    @staticmethod
    def _with_digest(location: str, digest: Digest) -> str:
        return location + ("&" if "?" in location else "?") + urlencode({"digest": str(digest)})

    def _finish(self, ep: Endpoint, resp: Response, desc: Descriptor) -> None:
        what = f"uploading blob {desc.digest} to {self.name}"
        self.session.check(resp, what)
        if resp.status not in (201, 204):
            raise ResponseError(f"{what}: unexpected status {resp.status}", resp.status)

    def _put_monolithic(
        self,
        ep: Endpoint,
        location: str,
        desc: Descriptor,
        opener: Callable[[], BinaryIO],
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        _, resp = self.session.send(
            "PUT",
            self._with_digest(location, desc.digest),
            scopes=self.push_scopes,
            endpoint=ep,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
            body=lambda: _Counting(opener(), on_bytes),  # type: ignore[arg-type,return-value]
        )
        self._finish(ep, resp, desc)

    def _upload_offset(self, ep: Endpoint, location: str) -> tuple[str, int]:
        """Where an interrupted chunked upload stands (spec.md "Upload status", end-13)."""
        _, resp = self.session.send("GET", location, scopes=self.push_scopes, endpoint=ep)
        self.session.check(resp, f"upload status at {self.name}")
        rng = resp.headers.get("Range")
        end = -1
        if rng:
            try:
                _, last = parse_upload_range(rng)
                end = last
            except HeaderError:
                end = -1
        return resp.headers.get("Location") or location, end + 1

    def _put_chunked(
        self,
        ep: Endpoint,
        location: str,
        desc: Descriptor,
        opener: Callable[[], BinaryIO],
        on_bytes: Callable[[int], None] | None,
        chunk_size: int,
    ) -> None:
        what = f"uploading blob {desc.digest} to {self.name}"
        offset = 0
        failures = 0
        with opener() as f:
            while offset < desc.size:
                f.seek(offset)
                chunk = f.read(chunk_size)
                if not chunk:
                    raise ContentMismatch(f"{what}: the local blob is shorter than its {desc.size} bytes")
                try:
                    _, resp = self.session.send(
                        "PATCH",
                        location,
                        scopes=self.push_scopes,
                        endpoint=ep,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(len(chunk)),
                            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                        },
                        body=chunk,
                    )
                except ConnectError:
                    failures += 1
                    if failures > _MAX_RESUMES:
                        raise
                    location, offset = self._upload_offset(ep, location)
                    continue
                if resp.status == 416:
                    location, offset = self._upload_offset(ep, location)
                    failures += 1
                    if failures > _MAX_RESUMES:
                        raise ResponseError(f"{what}: the registry keeps refusing the chunk at {offset}", 416)
                    continue
                self.session.check(resp, what)
                location = resp.headers.get("Location") or location
                offset += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        _, resp = self.session.send(
            "PUT",
            self._with_digest(location, desc.digest),
            scopes=self.push_scopes,
            endpoint=ep,
            headers={"Content-Type": "application/octet-stream", "Content-Length": "0"},
            body=b"",
        )
        self._finish(ep, resp, desc)

    # -- discovery ---------------------------------------------------------------------------------

    def tags(self, page_size: int | None = None) -> list[str]:
        """Every tag, following ``Link`` pagination (spec.md "Listing Tags")."""
        path = route("end-8a").url(name=self.path)
        if page_size:
            path += "?" + urlencode({"n": str(page_size)})
        out: list[str] = []
        seen: set[str] = set()
        while path and path not in seen:
            seen.add(path)
            _, resp = self.session.send("GET", path, scopes=self.pull_scopes)
            self.session.check(resp, f"tags of {self.name}")
            doc = _json(resp.data, f"tags of {self.name}")
            tags = doc.get("tags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ResponseError(f"tags of {self.name}: the registry sent a malformed list", resp.status)
            out += tags
            link = resp.headers.get("Link")
            path = (parse_link_next(link) or "") if link else ""
        return out

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> tuple[bytes, bool] | None:
        """The referrers index from the referrers API, or None when the registry lacks the API (404 on the
        endpoint). The bool tells whether the registry applied the ``artifactType`` filter (spec.md
        "Listing Referrers": ``OCI-Filters-Applied``)."""
        path = route("end-12a").url(name=self.path, digest=digest)
        if artifact_type:
            path += "?" + urlencode({"artifactType": artifact_type})
        _, resp = self.session.send("GET", path, scopes=self.pull_scopes, headers={"Accept": OCI_INDEX})
        if resp.status in (404, 405):
            # A registry with the API answers 200 with an empty index for an unknown digest; 404 means the
            # endpoint itself is missing (distribution 2.8), so the tag schema fallback applies.
            return None
        self.session.check(resp, f"referrers of {self.name}@{digest}")
        if _media_type(resp) not in (OCI_INDEX, "application/json", ""):
            return None
        filtered = "artifactType" in (resp.headers.get("OCI-Filters-Applied") or "")
        return resp.data, filtered


class _Buffer:
    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def offset(self) -> int:
        return len(self.data)

    def write(self, data: bytes) -> None:
        self.data += data


def _content_range_start(value: str | None) -> int:
    # "bytes <start>-<end>/<total>" (RFC 9110 14.4)
    if not value:
        return -1
    try:
        return int(value.split(" ", 1)[-1].split("-", 1)[0])
    except ValueError:
        return -1


def _json(data: bytes, what: str) -> dict[str, object]:
    import json

    try:
        doc = json.loads(data)
    except ValueError:
        raise ClientError(f"{what}: the registry sent invalid JSON") from None
    if not isinstance(doc, dict):
        raise ClientError(f"{what}: the registry sent JSON that is not an object")
    return doc


def _sniff_media_type(data: bytes) -> str:
    import json

    try:
        doc = json.loads(data)
    except ValueError:
        raise Unsupported("a manifest without a media type that is not JSON") from None
    mt = doc.get("mediaType") if isinstance(doc, dict) else None
    if isinstance(mt, str) and mt:
        return mt
    if isinstance(doc, dict) and "manifests" in doc:
        return OCI_INDEX
    if isinstance(doc, dict) and "config" in doc:
        return OCI_MANIFEST
    raise Unsupported("a manifest without a recognisable media type")
