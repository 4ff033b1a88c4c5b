"""A storage driver over an S3-compatible object store (tested against SeaweedFS), in the standard library.

Requests are signed with AWS Signature Version 4 when credentials are configured, and sent unsigned
otherwise (stores that allow anonymous access). Mapping of the driver's operations:

- files are objects under ``prefix/``; directories exist implicitly, as key prefixes;
- atomic writes are a single PUT (S3 makes an object visible only complete), from a spooled temp file;
- appends (uploads) add a *part object* ``<path>.parts/<offset:020d>``; the content is the parts in order,
  so any process can append and any can read; :meth:`move` concatenates them into the destination;
- ``touch`` copies an object onto itself (REPLACE directive), which renews its Last-Modified.

S3 offers no cross-process lock: :class:`PathBusy` covers appenders in this process only, and garbage
collection must not run from several processes sharing one bucket.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import os
import re
import tempfile
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from typing import IO, BinaryIO, cast

from ketch.registry.storage.driver.base import DriverError, FileInfo, PathBusy, PathNotFound, check_path

__all__ = ["S3Driver"]

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_PARTS = ".parts"
_SPOOL = 8 << 20
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class _Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _ObjectReader:
    """A streamed GET body; closes its connection when done."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp = resp

    def read(self, n: int = -1) -> bytes:
        return self._resp.read() if n is None or n < 0 else self._resp.read(n)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        self._resp.close()
        self._conn.close()

    def __enter__(self) -> _ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PartsReader:
    """Reads the part objects of an appended file in order, from an offset."""

    def __init__(self, driver: S3Driver, keys: list[tuple[int, str, int]], offset: int) -> None:
        self._driver = driver
        self._parts = [(start, key, size) for start, key, size in keys if start + size > offset]
        self._offset = offset
        self._current: BinaryIO | None = None

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if self._current is None:
                if not self._parts:
                    break
                start, key, _ = self._parts.pop(0)
                self._current = self._driver._get_stream(key, max(self._offset - start, 0))
            chunk = self._current.read(-1 if n < 0 else n - len(out))
            if not chunk:
                self._current.close()
                self._current = None
                continue
            out += chunk
        return bytes(out)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def __enter__(self) -> _PartsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _S3AtomicWriter:
    def __init__(self, driver: S3Driver, path: str) -> None:
        self._driver = driver
        self._path = path
        self._buf: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        self._buf.write(data)
        self._size += len(data)
        return len(data)

    def commit(self, durable: bool = True) -> None:
        # an object PUT is durable once acknowledged: there is no cheaper, weaker form
        try:
            self._buf.seek(0)
            self._driver._put_stream(self._driver._key(self._path), self._buf, self._size)
        finally:
            self._buf.close()

    def cancel(self) -> None:
        self._buf.close()


class _S3AppendWriter(_S3AtomicWriter):
    def __init__(self, driver: S3Driver, path: str, lock: threading.Lock) -> None:
        super().__init__(driver, path)
        self._lock = lock
        self._base = driver._appended_size(path)
        self._done = False

    @property
    def size(self) -> int:
        return self._base + self._size

    def commit(self, durable: bool = True) -> None:
        try:
            if self._size:
                self._buf.seek(0)
                key = self._driver._key(f"{self._path}{_PARTS}/{self._base:020d}")
                self._driver._put_stream(key, self._buf, self._size)
        finally:
            self._buf.close()
            self._release()

    def cancel(self) -> None:
        self._buf.close()
        self._release()

    def _release(self) -> None:
        if not self._done:
            self._done = True
            self._lock.release()


class S3Driver:
    """Objects in ``bucket`` under ``prefix`` at ``endpoint`` (``http://host:port``)."""

    name = "s3"

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        prefix: str = "",
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
        create_bucket: bool = True,
    ) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"S3 endpoint {endpoint!r} must be http(s)://host[:port]")
        if not _BUCKET.match(bucket):
            raise ValueError(f"S3 bucket name {bucket!r} must be 3-63 lowercase letters, digits, '.' or '-'")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._netloc = url.netloc
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self._access = access_key
        self._secret = secret_key
        self._append_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        if create_bucket:
            r = self._request("PUT", f"/{bucket}")
            if r.status not in (200, 409):
                raise DriverError(f"cannot create bucket {bucket!r}: HTTP {r.status} {r.body[:200]!r}")

    @classmethod
    def from_env(cls, prefix: str = "") -> S3Driver:
        """From KETCH_TEST_S3_ENDPOINT / _BUCKET / _ACCESS_KEY / _SECRET_KEY (used by tests)."""
        return cls(
            os.environ["KETCH_TEST_S3_ENDPOINT"],
            os.environ.get("KETCH_TEST_S3_BUCKET", "ketch"),
            prefix,
            access_key=os.environ.get("KETCH_TEST_S3_ACCESS_KEY", ""),
            secret_key=os.environ.get("KETCH_TEST_S3_SECRET_KEY", ""),
        )

    # --- HTTP and signing ------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=60)
        return http.client.HTTPConnection(self._host, self._port, timeout=60)

    def _key(self, path: str) -> str:
        check_path(path)
        return f"{self.prefix}/{path}" if self.prefix else path

    def _sign(self, method: str, path: str, query: str, headers: dict[str, str], payload_hash: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        headers["host"] = self._netloc
        if not self._access:
            return
        day = amz_date[:8]
        lower = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
        signed = sorted(lower)
        canonical_headers = "".join(f"{k}:{lower[k]}\n" for k in signed)
        canonical = "\n".join([method, path, query, canonical_headers, ";".join(signed), payload_hash])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = hmac.new(f"AWS4{self._secret}".encode(), day.encode(), hashlib.sha256).digest()
        for part in (self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._access}/{scope}, SignedHeaders={';'.join(signed)}, "
            f"Signature={signature}"
        )

    @staticmethod
    def _canonical_query(params: dict[str, str]) -> str:
        return "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted(params.items())
        )

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> _Response:
        conn, resp = self._send(method, path, params, body, headers)
        try:
            data = resp.read()
            return _Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: bytes | IO[bytes] = b"",
        headers: dict[str, str] | None = None,
        payload_hash: str | None = None,
        length: int | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        hdrs = dict(headers or {})
        quoted = urllib.parse.quote(path, safe="/-_.~")
        query = self._canonical_query(params or {})
        if payload_hash is None:
            payload_hash = hashlib.sha256(body).hexdigest() if isinstance(body, bytes) else "UNSIGNED-PAYLOAD"
        if length is not None:
            hdrs["Content-Length"] = str(length)
        elif isinstance(body, bytes) and (body or method in ("PUT", "POST")):
            hdrs["Content-Length"] = str(len(body))
        self._sign(method, quoted, query, hdrs, payload_hash)
        conn = self._connection()
        try:
            conn.request(method, quoted + (f"?{query}" if query else ""), body=body or None, headers=hdrs)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise DriverError(f"S3 {method} {path}: {e}") from e

    def _object_path(self, key: str) -> str:
        return f"/{self.bucket}/{key}"

    def _check(self, r: _Response, what: str, path: str) -> None:
        if r.status == 404:
            raise PathNotFound(path)
        if r.status >= 300:
            raise DriverError(f"S3 {what} {path!r}: HTTP {r.status} {r.body[:200]!r}")

    def _put_stream(self, key: str, stream: IO[bytes], size: int) -> None:
        conn, resp = self._send("PUT", self._object_path(key), body=stream, length=size)
        try:
            data = resp.read()
            if resp.status >= 300:
                raise DriverError(f"S3 PUT {key!r}: HTTP {resp.status} {data[:200]!r}")
        finally:
            conn.close()

    def _get_stream(self, key: str, offset: int = 0) -> BinaryIO:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        conn, resp = self._send("GET", self._object_path(key), headers=headers)
        if resp.status == 416:
            resp.read()
            conn.close()
            return cast(BinaryIO, _EmptyReader())
        if resp.status >= 300:
            data = resp.read()
            conn.close()
            if resp.status == 404:
                raise PathNotFound(key)
            raise DriverError(f"S3 GET {key!r}: HTTP {resp.status} {data[:200]!r}")
        return cast(BinaryIO, _ObjectReader(conn, resp))

    def _list(self, prefix: str, delimiter: str = "/") -> tuple[list[str], list[tuple[str, int, float]]]:
        """(common prefixes, [(key, size, mtime)]) under ``prefix``, following continuation tokens."""
        prefixes: list[str] = []
        objects: list[tuple[str, int, float]] = []
        token = ""
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if delimiter:
                params["delimiter"] = delimiter
            if token:
                params["continuation-token"] = token
            r = self._request("GET", f"/{self.bucket}", params)
            if r.status >= 300:
                raise DriverError(f"S3 list {prefix!r}: HTTP {r.status} {r.body[:200]!r}")
            root = ET.fromstring(r.body)
            for cp in root.iter(f"{_NS}CommonPrefixes"):
                prefixes.append(cp.findtext(f"{_NS}Prefix") or "")
            for c in root.iter(f"{_NS}Contents"):
                modified = c.findtext(f"{_NS}LastModified") or ""
                mtime = (
                    datetime.datetime.fromisoformat(modified.replace("Z", "+00:00")).timestamp()
                    if modified
                    else 0.0
                )
                objects.append((c.findtext(f"{_NS}Key") or "", int(c.findtext(f"{_NS}Size") or 0), mtime))
            if (root.findtext(f"{_NS}IsTruncated") or "false") != "true":
                break
            token = root.findtext(f"{_NS}NextContinuationToken") or ""
            if not token:
                break
        return prefixes, objects

    def _parts(self, path: str) -> list[tuple[int, str, int]]:
        _, objects = self._list(self._key(path + _PARTS) + "/", delimiter="")
        out = []
        for key, size, _ in objects:
            name = key.rsplit("/", 1)[-1]
            if name.isdigit():
                out.append((int(name), key, size))
        return sorted(out)

    def _appended_size(self, path: str) -> int:
        parts = self._parts(path)
        if parts:
            return parts[-1][0] + parts[-1][2]
        r = self._request("HEAD", self._object_path(self._key(path)))
        return int(r.headers.get("content-length", "0")) if r.status == 200 else 0

    # --- StorageDriver ---------------------------------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        with self.reader(path) as f:
            return f.read()

    def put_content(self, path: str, data: bytes) -> None:
        r = self._request("PUT", self._object_path(self._key(path)), body=data)
        self._check(r, "PUT", path)
        self._drop_parts(path)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        parts = self._parts(path)
        if parts:
            base = self._request("HEAD", self._object_path(self._key(path)))
            keys = parts
            if base.status == 200 and parts[0][0] > 0:
                keys = [(0, self._key(path), int(base.headers.get("content-length", "0"))), *parts]
            return cast(BinaryIO, _PartsReader(self, keys, offset))
        try:
            return self._get_stream(self._key(path), offset)
        except PathNotFound:
            raise PathNotFound(path) from None

    def writer(self, path: str, append: bool = False) -> _S3AtomicWriter:
        self._key(path)
        if not append:
            return _S3AtomicWriter(self, path)
        with self._locks_guard:
            lock = self._append_locks.setdefault(path, threading.Lock())
        if not lock.acquire(blocking=False):
            raise PathBusy(path)
        try:
            return _S3AppendWriter(self, path, lock)
        except BaseException:
            lock.release()
            raise

    def stat(self, path: str) -> FileInfo:
        key = self._key(path)
        r = self._request("HEAD", self._object_path(key))
        if r.status == 200:
            size = int(r.headers.get("content-length", "0"))
            parts = self._parts(path)
            if parts:
                size = parts[-1][0] + parts[-1][2]
            modified = r.headers.get("last-modified")
            mtime = parsedate_to_datetime(modified).timestamp() if modified else 0.0
            return FileInfo(path, size, mtime, False)
        prefixes, objects = self._list(key + "/")
        if prefixes or objects:
            return FileInfo(path, 0, 0.0, True)
        raise PathNotFound(path)

    def list(self, path: str) -> list[str]:
        key = self._key(path) + "/"
        prefixes, objects = self._list(key)
        names = {p[len(key) :].rstrip("/") for p in prefixes}
        names |= {k[len(key) :] for k, _, _ in objects}
        names = {n for n in names if n and not n.endswith(_PARTS)}
        if not names:
            raise PathNotFound(path)
        return sorted(names)

    def move(self, source: str, dest: str) -> None:
        try:
            size = self.stat(source).size
        except PathNotFound:
            raise PathNotFound(source) from None
        with self.reader(source) as f:
            spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
            try:
                while chunk := f.read(1 << 20):
                    spool.write(chunk)
                spool.seek(0)
                self._put_stream(self._key(dest), spool, size)
            finally:
                spool.close()
        self.delete(source)

    def delete(self, path: str) -> None:
        key = self._key(path)
        _, objects = self._list(key + "/", delimiter="")
        head = self._request("HEAD", self._object_path(key))
        _, part_objects = self._list(key + _PARTS + "/", delimiter="")
        if head.status != 200 and not objects and not part_objects:
            raise PathNotFound(path)
        for k, _, _ in [*objects, *part_objects]:
            self._request("DELETE", self._object_path(k))
        if head.status == 200:
            self._request("DELETE", self._object_path(key))

    def _drop_parts(self, path: str) -> None:
        for _, key, _ in self._parts(path):
            self._request("DELETE", self._object_path(key))

    def touch(self, path: str) -> None:
        key = self._key(path)
        r = self._request(
            "PUT",
            self._object_path(key),
            headers={
                "x-amz-copy-source": urllib.parse.quote(f"/{self.bucket}/{key}", safe="/-_.~"),
                "x-amz-metadata-directive": "REPLACE",
            },
        )
        self._check(r, "touch", path)

    def local_path(self, path: str) -> str | None:
        return None


class _EmptyReader:
    def read(self, n: int = -1) -> bytes:
        return b""

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def __enter__(self) -> _EmptyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
