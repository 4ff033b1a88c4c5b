"""Deciding whether a request may proceed: anonymous, HTTP Basic against htpasswd, or Bearer tokens.

Failures raise :class:`AuthChallenge` (401, with the ``WWW-Authenticate`` challenge a client needs to
authenticate) or a DENIED :class:`RegistryError` (403, authenticated but not allowed).
"""

from __future__ import annotations

import base64
import binascii
import secrets

from ketch.registry.api import RegistryError, build_challenge
from ketch.registry.server.auth.access import Scope, allowed_actions, format_scope, grants_cover
from ketch.registry.server.auth.htpasswd import Htpasswd
from ketch.registry.server.auth.tokens import TokenError, TokenIssuer
from ketch.registry.server.config import AuthConfig
from ketch.registry.server.errors import ConfigError

__all__ = ["AuthChallenge", "Authenticator"]


class AuthChallenge(RegistryError):
    """UNAUTHORIZED with the challenge header to send."""

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__("UNAUTHORIZED", message, headers={"WWW-Authenticate": challenge})
        self.challenge = challenge


def parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class Authenticator:
    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.mode = config.mode
        self.users = Htpasswd(config.htpasswd) if config.mode != "none" else None
        self.issuer: TokenIssuer | None = None
        if config.mode == "token":
            if config.secret_file:
                try:
                    with open(config.secret_file, "rb") as f:
                        secret = f.read().strip()
                except OSError as e:
                    raise ConfigError(f"auth.secret_file {config.secret_file!r}: {e.strerror}") from None
            else:
                secret = secrets.token_bytes(32)  # tokens then die with this process
            try:
                self.issuer = TokenIssuer(secret, config.issuer, config.service, config.token_ttl)
            except ValueError as e:
                raise ConfigError(f"auth.secret_file {config.secret_file!r}: {e}") from None

    def check_password(self, user: str, password: str) -> bool:
        return self.users is not None and self.users.verify(user, password)

    def realm(self, base_url: str) -> str:
        return self.config.realm or base_url.rstrip("/") + "/token"

    def authorize(self, authorization: str, scopes: list[Scope], base_url: str) -> str:
        """The user a request acts as ("" for anonymous), if it may do ``scopes``; raises otherwise."""
        if self.mode == "none":
            return ""
        if self.mode == "htpasswd":
            return self._basic(authorization)
        return self._bearer(authorization, scopes, base_url)

    def _basic(self, authorization: str) -> str:
        challenge = build_challenge("Basic", realm=self.config.service)
        creds = parse_basic(authorization) if authorization else None
        if creds is None:
            raise AuthChallenge("authentication required", challenge)
        if not self.check_password(*creds):
            raise AuthChallenge(f"invalid username or password for {creds[0]!r}", challenge)
        return creds[0]

    def _bearer(self, authorization: str, scopes: list[Scope], base_url: str) -> str:
        assert self.issuer is not None
        scope_text = " ".join(format_scope(s) for s in scopes)

        def challenge(error: str = "") -> str:
            return build_challenge(
                "Bearer",
                realm=self.realm(base_url),
                service=self.config.service,
                scope=scope_text,
                error=error,
            )

        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if (
                not authorization
                and self.config.anonymous_pull
                and scopes
                and all(s.actions == ("pull",) for s in scopes)
            ):
                return ""
            raise AuthChallenge("authentication required", challenge())
        try:
            user, grants = self.issuer.verify(token.strip())
        except TokenError as e:
            raise AuthChallenge(str(e), challenge("invalid_token")) from None
        for scope in scopes:
            if not grants_cover(grants, scope):
                raise RegistryError(
                    "DENIED",
                    f"token for {user or 'anonymous'!r} does not grant {format_scope(scope)}",
                    detail=[{"Type": scope.type, "Name": scope.name, "Action": a} for a in scope.actions],
                )
        return user

    def grant(self, user: str, requested: list[Scope]) -> list[Scope]:
        """The part of each requested scope ``user`` may have (token endpoint)."""
        out = []
        for scope in requested:
            actions = allowed_actions(self.config.access, user, scope, self.config.anonymous_pull)
            out.append(Scope(scope.type, scope.name, actions))
        return out
