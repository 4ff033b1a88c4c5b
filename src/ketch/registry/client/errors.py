"""Errors of the registry client.

::

    ClientError
     ├── ConfigError           hosts.toml or an auth file is malformed
     ├── ConnectError          a registry cannot be reached (refused, unreachable, TLS failure, timeout)
     ├── ResponseError         a registry answered with an error status (``status``, ``errors`` decoded)
     │    ├── AuthError        401/403: no or wrong credentials, or not allowed
     │    └── NotFound         404: no such manifest, blob or repository
     ├── ContentMismatch       bytes from a registry did not match their digest or size
     └── Unsupported           the registry or the content lacks something needed (a media type, an API)

Messages name the thing that is wrong (the reference, digest or host) and never carry credentials.
"""

from __future__ import annotations

from ketch.registry.api import RegistryError

__all__ = [
    "AuthError",
    "ClientError",
    "ConfigError",
    "ConnectError",
    "ContentMismatch",
    "NotFound",
    "ResponseError",
    "Unsupported",
]


class ClientError(Exception):
    """Base of every error raised by ketch.registry.client."""


class ConfigError(ClientError):
    pass


class ConnectError(ClientError):
    pass


class ResponseError(ClientError):
    def __init__(self, message: str, status: int, errors: list[RegistryError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = list(errors or [])

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]


class AuthError(ResponseError):
    pass


class NotFound(ResponseError):
    pass


class ContentMismatch(ClientError):
    pass


class Unsupported(ClientError):
    pass
