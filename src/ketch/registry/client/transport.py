"""HTTP for the client: urllib3 connection pools (chosen by measurement, see docs/client.md), one per TLS
setting, each holding at most ``max_connections`` connections per host and reusing them; bodies stream in
both directions; transient failures are retried with exponential backoff.

Retried: connection failures and resets (when the request can be sent again: no body, or a body factory),
and the statuses 429, 502, 503, 504 (and 500 for reads), honouring ``Retry-After``. A cut in the middle of a
response body is not retried here: the blob fetcher resumes it with a Range request.
"""

from __future__ import annotations

import email.utils
import errno
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import urllib3
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)

from ketch.registry.client.errors import ConnectError
from ketch.registry.client.hosts import Endpoint

__all__ = ["Body", "Response", "Transport", "describe_failure"]

Response = urllib3.BaseHTTPResponse
Body = bytes | Callable[[], BinaryIO | bytes] | None

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_READ_RETRY_STATUSES = _RETRY_STATUSES | {500}
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_MAX_RETRY_AFTER = 30.0


def describe_failure(exc: BaseException) -> str:
    """``connection refused``, ``timed out``, ``TLS: certificate verify failed`` ... from urllib3's wrappers."""
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain and len(chain) < 16:
        chain.append(e)
        if isinstance(e, MaxRetryError) and e.reason is not None:
            e = e.reason
        elif e.__cause__ is not None or e.__context__ is not None:
            e = e.__cause__ or e.__context__
        elif isinstance(e, ProtocolError) and e.args and isinstance(e.args[-1], BaseException):
            e = e.args[-1]
        else:
            e = None
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"TLS: certificate verify failed: {item.verify_message}"
        if isinstance(item, ssl.SSLError):
            return f"TLS: {item.reason or item}"
    for item in chain:
        # The innermost OS error says what happened (ECONNREFUSED, EHOSTUNREACH, ECONNRESET).
        if isinstance(item, OSError) and not isinstance(item, HTTPError) and item.errno is not None:
            return (item.strerror or errno.errorcode.get(item.errno, str(item))).lower()
    for item in chain:
        if isinstance(item, SSLError):
            return f"TLS: {item}"
        if isinstance(item, Urllib3Timeout) and not isinstance(item, NewConnectionError):
            return "timed out"
    last = chain[-1]
    return str(last).split(": ", 1)[-1] if isinstance(last, NewConnectionError) else str(last)


def _retry_after(resp: Response, attempt: int, backoff: float) -> float:
    value = resp.headers.get("Retry-After")
    delay = backoff * (2**attempt) * (0.5 + random.random() / 2)
    if value:
        if value.isdigit():
            delay = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
                delay = max(0.0, when - time.time())
            except (TypeError, ValueError):
                pass
    return float(min(delay, _MAX_RETRY_AFTER))


class Transport:
    """Sends requests to endpoints; thread-safe (pools are shared by the worker threads of a pull or push)."""

    def __init__(
        self,
        *,
        max_connections: int = 6,
        retries: int = 4,
        backoff: float = 0.25,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        user_agent: str = "ketch",
    ) -> None:
        self.max_connections = max_connections
        self.retries = retries
        self.backoff = backoff
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.user_agent = user_agent
        self._pools: dict[tuple[Any, ...], urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _pool(self, ep: Endpoint) -> urllib3.PoolManager:
        key = (ep.skip_verify, ep.ca, ep.client)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                kw: dict[str, Any] = {}
                if ep.scheme == "https" or ep.ca or ep.client or ep.skip_verify:
                    kw["ssl_context"] = self._ssl_context(ep)
                pool = urllib3.PoolManager(
                    num_pools=32,
                    maxsize=self.max_connections,
                    block=True,  # never more than max_connections per host: callers wait for a free one
                    timeout=self.timeout,
                    blocksize=1 << 20,  # request bodies go out in 1 MiB writes
                    **kw,
                )
                self._pools[key] = pool
            return pool

    @staticmethod
    def _ssl_context(ep: Endpoint) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        try:
            for path in ep.ca:
                ctx.load_verify_locations(cafile=path)
            for cert, key in ep.client:
                ctx.load_cert_chain(cert, key if key != cert else None)
        except (OSError, ssl.SSLError) as e:
            raise ConnectError(f"TLS configuration for {ep.host}: {e}") from None
        if ep.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            # The user asked for this host in hosts.toml; urllib3 would warn on every request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return ctx

    def request(
        self,
        ep: Endpoint,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        redirect: bool = True,
    ) -> Response:
        """One request, retried on transient failures. With ``stream`` the caller reads and releases the body.

        ``body`` may be a factory so that a retried request can send it again from the start.
        """
        hdrs = {"User-Agent": self.user_agent, **dict(ep.headers), **(headers or {})}
        replayable = body is None or isinstance(body, bytes) or callable(body)
        pool = self._pool(ep)
        attempt = 0
        while True:
            payload = body() if callable(body) else body
            try:
                resp = pool.request(
                    method,
                    url,
                    headers=hdrs,
                    body=payload,
                    preload_content=not stream,
                    decode_content=False,
                    # Cross-host redirects (blob storage) drop Authorization (urllib3's default), so a
                    # registry's credentials never reach a third party (the leak of CVE-2018-1000007).
                    retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5)
                    if redirect
                    else False,
                )
            except (HTTPError, OSError) as e:
                why = describe_failure(e)
                # Refused means nothing listens: one quick retry covers a restarting registry.
                limit = min(self.retries, 1) if why == "connection refused" else self.retries
                if not replayable or attempt >= limit:
                    raise ConnectError(f"cannot reach {ep.host}: {why}") from None
                self._sleep(attempt)
                attempt += 1
                continue
            finally:
                if payload is not None and not isinstance(payload, bytes):
                    payload.close()
            statuses = _READ_RETRY_STATUSES if method in ("GET", "HEAD") else _RETRY_STATUSES
            if (
                resp.status in statuses
                and replayable
                and method in _IDEMPOTENT | {"POST", "PATCH"}
                and attempt < self.retries
            ):
                delay = _retry_after(resp, attempt, self.backoff)
                resp.drain_conn()
                resp.release_conn()
                time.sleep(delay)
                attempt += 1
                continue
            return resp

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.backoff * (2**attempt) * (0.5 + random.random() / 2))

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()
