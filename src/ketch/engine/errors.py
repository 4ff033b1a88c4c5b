"""Errors of the container engine (``ketch run`` and friends).

    EngineError                    anything the engine refuses or fails at; one line, names the object
     ├── UsageError                a bad option value (``--memory 12q``, ``-p 99999:80``)
     ├── NotFound                  no container, volume or network of that name
     ├── Conflict                  name in use, container running, port in use, volume in use
     ├── ImageUnavailable          no such image locally and pulling was not allowed or failed
     ├── RuntimeFailed             the OCI runtime binary or conmon failed (their message attached)
     └── NetworkError              CNI plugin failures, network namespaces
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "EngineError",
    "ImageUnavailable",
    "NetworkError",
    "NotFound",
    "RuntimeFailed",
    "UsageError",
]


class EngineError(Exception):
    """Base class; ``hint`` is an optional second sentence telling the user what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(EngineError):
    pass


class NotFound(EngineError):
    pass


class Conflict(EngineError):
    pass


class ImageUnavailable(EngineError):
    pass


class RuntimeFailed(EngineError):
    pass


class NetworkError(EngineError):
    pass
