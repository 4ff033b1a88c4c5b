"""Errors of the CRI server; each maps to one gRPC status code in the servicers.

::

    CriError
    ├── NotFound            unknown pod sandbox, container or image      -> NOT_FOUND
    ├── InvalidArgument     a request that can never succeed as written  -> INVALID_ARGUMENT
    ├── AlreadyExists       a name already reserved by another object    -> ALREADY_EXISTS
    ├── FailedPrecondition  right request, wrong state (pod not ready)   -> FAILED_PRECONDITION
    ├── PermissionDenied    a registry refused the credentials           -> PERMISSION_DENIED
    ├── Unavailable         a dependency is missing or unreachable       -> UNAVAILABLE
    ├── DeadlineExceeded    a wait ran out of time                       -> DEADLINE_EXCEEDED
    └── ExternalError       a program ketchd ran failed (runtime, CNI)   -> INTERNAL
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "CriError",
    "DeadlineExceeded",
    "ExternalError",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unavailable",
]


class CriError(Exception):
    """Base of every error a CRI request can end with."""


class NotFound(CriError):
    pass


class InvalidArgument(CriError):
    pass


class AlreadyExists(CriError):
    pass


class FailedPrecondition(CriError):
    pass


class PermissionDenied(CriError):
    pass


class Unavailable(CriError):
    pass


class DeadlineExceeded(CriError):
    pass


class ExternalError(CriError):
    """A program run by ketchd (OCI runtime, conmon, a CNI plugin) failed; the message carries its stderr."""
