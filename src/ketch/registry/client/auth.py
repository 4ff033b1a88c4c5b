"""Authenticating to registries: anonymous, HTTP Basic, and the Bearer token flow of distribution's
token.md.

A request goes out with what is known for its host: nothing at first; after a ``401`` the challenge
(``WWW-Authenticate``) says how. ``Basic``: the stored credentials. ``Bearer realm=...,service=...``: GET
``realm?service=...&scope=...`` (with Basic credentials when there are some, anonymously otherwise), and use
the ``token`` (or ``access_token``) it returns, cached per host and scope set until ``expires_in`` (60 s when
absent, token.md "Token Response Fields") runs out. A 401 with a cached token drops it and fetches a fresh
one once (an expired or revoked token, or a scope the token lacked).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from ketch.registry.api import Challenge, HeaderError, parse_challenges
from ketch.registry.client.credentials import Credentials, CredentialStore
from ketch.registry.client.errors import AuthError, ConnectError
from ketch.registry.client.hosts import Endpoint, is_loopback
from ketch.registry.client.transport import Transport

__all__ = ["Authorizer", "Scope"]

_DEFAULT_EXPIRY = 60.0
_EARLY = 5.0  # renew a little before the expiry so a token does not die in flight


@dataclass(frozen=True)
class Scope:
    """``repository:<name>:<actions>`` (token.md "Requesting a Token"); ``registry:catalog:*`` too."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    @classmethod
    def repository(cls, name: str, *actions: str) -> Scope:
        return cls("repository", name, tuple(actions))


@dataclass
class _Token:
    value: str
    expires: float


class Authorizer:
    """Holds what each host asked for and the tokens got; shared by the threads of a pull or push."""

    def __init__(
        self,
        transport: Transport,
        credentials: CredentialStore | None = None,
        registry: str | None = None,
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.registry = registry  # the name credentials are stored under (a reference's domain)
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._lock = threading.Lock()
        self._fetching: dict[tuple[str, str], threading.Lock] = {}
        self.token_requests = 0  # for tests and diagnostics

    def _creds(self, ep: Endpoint, repository: str | None) -> Credentials | None:
        """Credentials are stored under the registry's name (``docker.io``, ``registry.example:5000``), whatever
        host serves it; a mirror's under the mirror's own host (as podman keys them)."""
        if self.credentials is None:
            return None
        if ep.mirror or self.registry is None:
            return self.credentials.lookup(ep.host, repository if not ep.mirror else None)
        return self.credentials.lookup(self.registry, repository)

    def headers(self, ep: Endpoint, scopes: list[Scope], *, fresh: bool = False) -> dict[str, str]:
        """The Authorization header for a request to ``ep`` needing ``scopes`` (empty when none is known)."""
        with self._lock:
            challenge = self._challenges.get(ep.host)
        if challenge is None:
            return {}
        scheme = challenge.scheme.lower()
        repository = scopes[0].name if scopes and scopes[0].type == "repository" else None
        if scheme == "basic":
            creds = self._creds(ep, repository)
            if creds is None:
                return {}
            raw = f"{creds.username}:{creds.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if scheme == "bearer":
            token = self._token(ep, challenge, scopes, fresh=fresh)
            return {"Authorization": f"Bearer {token}"}
        return {}

    def challenged(self, ep: Endpoint, header: str | None) -> bool:
        """Record a 401's challenge; False when it offers no scheme this client speaks."""
        if not header:
            return False
        try:
            challenges = parse_challenges(header)
        except HeaderError:
            return False
        for c in challenges:
            if c.scheme.lower() in ("bearer", "basic"):
                with self._lock:
                    self._challenges[ep.host] = c
                return True
        return False

    def forget(self, ep: Endpoint, scopes: list[Scope]) -> None:
        with self._lock:
            self._tokens.pop((ep.host, self._scope_key(scopes)), None)

    @staticmethod
    def _scope_key(scopes: list[Scope]) -> str:
        return " ".join(sorted(str(s) for s in scopes))

    def _token(self, ep: Endpoint, challenge: Challenge, scopes: list[Scope], *, fresh: bool) -> str:
        key = (ep.host, self._scope_key(scopes))
        with self._lock:
            gate = self._fetching.setdefault(key, threading.Lock())
        with gate:  # one fetch per scope set even when many threads need it at once
            with self._lock:
                cached = self._tokens.get(key)
            if cached is not None and not fresh and cached.expires - _EARLY > time.monotonic():
                return cached.value
            token = self._fetch_token(ep, challenge, scopes)
            with self._lock:
                self._tokens[key] = token
            return token.value

    def _fetch_token(self, ep: Endpoint, challenge: Challenge, scopes: list[Scope]) -> _Token:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(f"{ep.host} sent a Bearer challenge without a realm", 401)
        parts = urlsplit(realm)
        # A token request carries credentials: only over TLS, or to a loopback realm.
        if parts.scheme not in ("https", "http") or (
            parts.scheme == "http" and not is_loopback(parts.netloc) and ep.scheme == "https"
        ):
            raise AuthError(f"{ep.host}: refusing token realm {realm!r} (not https)", 401)
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        if scopes:
            query += [("scope", str(s)) for s in scopes]
        elif challenge.params.get("scope"):
            query += [("scope", s) for s in challenge.params["scope"].split(" ")]
        repository = scopes[0].name if scopes and scopes[0].type == "repository" else None
        creds = self._creds(ep, repository)
        headers = {"Accept": "application/json"}
        if creds is not None and creds.password:
            raw = f"{creds.username}:{creds.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        sep = "&" if parts.query else "?"
        url = realm + (sep + urlencode(query) if query else "")
        realm_ep = Endpoint(
            url=f"{parts.scheme}://{parts.netloc}", skip_verify=ep.skip_verify, ca=ep.ca, client=ep.client
        )
        self.token_requests += 1
        try:
            resp = self.transport.request(realm_ep, "GET", url, headers=headers)
        except ConnectError as e:
            raise ConnectError(f"token service for {ep.host}: {e}") from None
        if resp.status in (401, 403):
            who = f"user {creds.username!r}" if creds else "anonymous access"
            raise AuthError(
                f"{ep.host}: the token service refused {who} for {' '.join(str(s) for s in scopes) or 'access'}",
                resp.status,
            )
        if resp.status != 200:
            raise AuthError(f"{ep.host}: token service answered {resp.status}", resp.status)
        try:
            doc = json.loads(resp.data)
        except ValueError:
            raise AuthError(f"{ep.host}: token service sent no JSON", resp.status) from None
        value = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            raise AuthError(f"{ep.host}: token service sent no token", resp.status)
        expires_in = doc.get("expires_in")
        ttl = (
            float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else _DEFAULT_EXPIRY
        )
        return _Token(value, time.monotonic() + ttl)
