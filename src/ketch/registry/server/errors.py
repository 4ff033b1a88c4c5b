"""Errors of the registry server's set-up (request failures are :class:`RegistryError` from the api).

::

    ServerError
    └── ConfigError      a configuration file or option is invalid
"""

from __future__ import annotations

__all__ = ["ConfigError", "ServerError"]


class ServerError(Exception):
    """The registry server cannot start or run as configured."""


class ConfigError(ServerError):
    """A configuration value is invalid; the message names the key."""
