"""Bearer tokens: compact JWS (RFC 7515) with HMAC-SHA256, carrying the access claim of
distribution's token.md ("access": [{"type", "name", "actions"}]).

The registry both issues and verifies these tokens, so a shared secret suffices; several registry processes
share it through ``auth.secret_file``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Grant", "TokenError", "TokenIssuer"]


class TokenError(ValueError):
    """A bearer token is malformed, forged, expired or for another service."""


@dataclass(frozen=True)
class Grant:
    """One resource's granted actions (``type`` is ``repository`` or ``registry``)."""

    type: str
    name: str
    actions: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise TokenError("token part is not base64url") from None


class TokenIssuer:
    def __init__(self, secret: bytes, issuer: str, service: str, ttl: int = 300) -> None:
        if len(secret) < 16:
            raise ValueError("token secret must be at least 16 bytes")
        self._secret = secret
        self.issuer = issuer
        self.service = service
        self.ttl = ttl

    def issue(self, subject: str, grants: list[Grant], now: float | None = None) -> str:
        now = time.time() if now is None else now
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": int(now) + self.ttl,
            "jti": secrets.token_hex(12),
            "access": [{"type": g.type, "name": g.name, "actions": list(g.actions)} for g in grants],
        }
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(sig)

    def verify(self, token: str, now: float | None = None) -> tuple[str, list[Grant]]:
        """The subject and grants of a valid token; :class:`TokenError` otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("token is not a compact JWS")
        header = _json(_unb64(parts[0]))
        # only HS256 is accepted: refusing "none" and every other alg prevents algorithm-confusion forgeries
        # (CVE-2015-9235 class)
        if header.get("alg") != "HS256":
            raise TokenError(f"token algorithm {header.get('alg')!r} is not accepted")
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            raise TokenError("token signature does not verify")
        claims = _json(_unb64(parts[1]))
        now = time.time() if now is None else now
        if claims.get("iss") != self.issuer:
            raise TokenError("token issuer is not this registry's")
        if claims.get("aud") != self.service:
            raise TokenError("token audience is another service")
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, int) or now >= exp:
            raise TokenError("token has expired")
        if not isinstance(nbf, int) or now < nbf:
            raise TokenError("token is not valid yet")
        grants = []
        for item in claims.get("access") or []:
            if isinstance(item, dict) and isinstance(item.get("actions"), list):
                grants.append(
                    Grant(
                        str(item.get("type")), str(item.get("name")), tuple(str(a) for a in item["actions"])
                    )
                )
        return str(claims.get("sub", "")), grants


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise TokenError("token part is not JSON") from None
    if not isinstance(doc, dict):
        raise TokenError("token part is not a JSON object")
    return doc
