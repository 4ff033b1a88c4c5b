"""Registry authentication: htpasswd users, bearer tokens and access rules."""

from ketch.registry.server.auth.access import Scope, allowed_actions, format_scope, grants_cover, parse_scope
from ketch.registry.server.auth.authenticator import AuthChallenge, Authenticator, parse_basic
from ketch.registry.server.auth.htpasswd import Htpasswd
from ketch.registry.server.auth.tokens import Grant, TokenError, TokenIssuer

__all__ = [
    "AuthChallenge",
    "Authenticator",
    "Grant",
    "Htpasswd",
    "Scope",
    "TokenError",
    "TokenIssuer",
    "allowed_actions",
    "format_scope",
    "grants_cover",
    "parse_basic",
    "parse_scope",
]
