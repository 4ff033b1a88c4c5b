"""One registry as the client sees it: its endpoints (mirrors, then upstream), authentication, and error
decoding. Every request of :mod:`repository` goes through :meth:`Session.send`.

Reads (``pull``/``resolve``) try each mirror in order and fall through to the next one when a mirror cannot
be reached, answers 404 or fails with a 5xx; the upstream's answer is final. Writes go to the endpoints with
the ``push`` capability only (normally the upstream).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from ketch.registry.api import parse_error_body
from ketch.registry.client.auth import Authorizer, Scope
from ketch.registry.client.credentials import CredentialStore
from ketch.registry.client.errors import AuthError, ClientError, ConnectError, NotFound, ResponseError
from ketch.registry.client.hosts import Endpoint, HostsConfig
from ketch.registry.client.transport import Body, Response, Transport

__all__ = ["Session", "SessionOptions", "raise_for_status"]


@dataclass(frozen=True)
class SessionOptions:
    hosts_dir: str | None = None
    auth_file: str | None = None
    docker_config: str | None = None
    max_connections: int = 6
    retries: int = 4
    backoff: float = 0.25


def raise_for_status(resp: Response, what: str, host: str, hint: str = "") -> None:
    """Turn an error status into the matching :class:`ResponseError`, naming ``what`` and the registry's
    own message (spec.md "Error Codes")."""
    if resp.status < 400:
        return
    body = resp.data if resp.status != 416 else b""
    errors = parse_error_body(body or b"", resp.status)
    detail = "; ".join(e.message for e in errors[:3]) if errors else ""
    tail = f": {detail}" if detail else ""
    if hint and resp.status in (401, 403):
        tail += f" ({hint})"
    if resp.status == 401:
        raise AuthError(f"{what}: authentication required by {host}{tail}", 401, errors)
    if resp.status == 403:
        raise AuthError(f"{what}: access denied by {host}{tail}", 403, errors)
    if resp.status == 404:
        raise NotFound(f"{what}: not found on {host}{tail}", 404, errors)
    reason = resp.reason or ""
    raise ResponseError(f"{what}: {host} answered {resp.status} {reason}{tail}".rstrip(), resp.status, errors)


class Session:
    """Requests to one registry ``domain`` (as in a reference: ``docker.io``, ``127.0.0.1:5000``)."""

    def __init__(
        self,
        domain: str,
        *,
        transport: Transport,
        authorizer: Authorizer,
        hosts: HostsConfig,
    ) -> None:
        self.domain = domain
        self.transport = transport
        self.authorizer = authorizer
        self.endpoints = hosts.endpoints(domain)
        self._unreachable: set[str] = set()

    @classmethod
    def open(
        cls, domain: str, options: SessionOptions | None = None, *, transport: Transport | None = None
    ) -> Session:
        o = options or SessionOptions()
        t = transport or Transport(max_connections=o.max_connections, retries=o.retries, backoff=o.backoff)
        creds = CredentialStore(o.auth_file, docker_config=o.docker_config)
        from ketch.registry.client.hosts import DEFAULT_HOSTS_DIR

        hosts = HostsConfig(o.hosts_dir if o.hosts_dir is not None else DEFAULT_HOSTS_DIR)
        return cls(domain, transport=t, authorizer=Authorizer(t, creds, domain), hosts=hosts)

    @property
    def upstream(self) -> Endpoint:
        return self.endpoints[-1]

    def endpoints_for(self, capability: str) -> list[Endpoint]:
        eps = [e for e in self.endpoints if e.can(capability)]
        if not eps:
            raise ConnectError(f"no host of {self.domain} is configured for {capability}")
        return eps

    def send(
        self,
        method: str,
        path: str,
        *,
        scopes: list[Scope],
        capability: str = "pull",
        endpoint: Endpoint | None = None,
        headers: dict[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
    ) -> tuple[Endpoint, Response]:
        """Send to the first endpoint that answers; ``path`` is an API path or an absolute URL (upload
        locations). Returns the endpoint used (later requests of an upload must go to the same one)."""
        if endpoint is not None:
            eps = [endpoint]
        else:
            # A mirror that could not be reached is not tried again by this session (each blob would pay
            # its connection timeout and retries otherwise).
            eps = [
                e for e in self.endpoints_for(capability) if e.url not in self._unreachable
            ] or self.endpoints_for(capability)
        for i, ep in enumerate(eps):
            last = i == len(eps) - 1
            try:
                resp = self._send_one(ep, method, path, scopes, headers, body, stream)
            except ConnectError:
                if last:
                    raise
                self._unreachable.add(ep.url)
                continue
            except AuthError:
                if last:
                    raise
                continue
            if not last and ep.mirror and (resp.status == 404 or resp.status >= 500):
                resp.drain_conn()
                resp.release_conn()
                continue
            return ep, resp
        raise AssertionError("unreachable")

    def check(self, resp: Response, what: str) -> None:
        """:func:`raise_for_status`, with a hint to log in when a refusal met no stored credentials."""
        hint = ""
        if resp.status in (401, 403) and self.authorizer.credentials is not None:
            try:
                has = self.authorizer.credentials.lookup(self.domain) is not None
            except ClientError:
                has = True
            if not has:
                hint = f"no credentials stored for {self.domain}: ketch login {self.domain}"
        raise_for_status(resp, what, self.domain, hint)

    def url(self, ep: Endpoint, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/v2"):
            return ep.api_url(path)
        return urljoin(ep.url + "/", path)

    def _send_one(
        self,
        ep: Endpoint,
        method: str,
        path: str,
        scopes: list[Scope],
        headers: dict[str, str] | None,
        body: Body,
        stream: bool,
    ) -> Response:
        url = self.url(ep, path)
        auth = self.authorizer.headers(ep, scopes)
        resp = self.transport.request(
            ep, method, url, headers={**(headers or {}), **auth}, body=body, stream=stream
        )
        if resp.status != 401:
            return resp
        challenge = resp.headers.get("WWW-Authenticate")
        resp.drain_conn()
        resp.release_conn()
        if body is not None and not (isinstance(body, bytes) or callable(body)):
            return resp  # cannot send the body again
        if not self.authorizer.challenged(ep, challenge):
            raise AuthError(f"{self.domain}: authentication required by {ep.host} (no usable challenge)", 401)
        # With a token already sent this is an expired token or one lacking a scope: fetch a fresh one.
        if auth:
            self.authorizer.forget(ep, scopes)
        fresh = self.authorizer.headers(ep, scopes, fresh=bool(auth))
        if not fresh:
            raise AuthError(
                f"{self.domain}: {ep.host} requires authentication and there are no credentials "
                f"for it (ketch login {self.domain})",
                401,
            )
        return self.transport.request(
            ep, method, url, headers={**(headers or {}), **fresh}, body=body, stream=stream
        )

    def close(self) -> None:
        self.transport.close()
