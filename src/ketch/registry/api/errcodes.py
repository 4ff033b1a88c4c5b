"""The registry error codes as one declarative table, and the JSON error body both sides speak.

distribution-spec spec.md "Error Codes": every failed request carries a body of the form
``{"errors": [{"code": ..., "message": ..., "detail": ...}]}``. The first fourteen rows are the spec's table
(``code-1`` .. ``code-14``); the rest are codes CNCF distribution also sends, which clients already know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODES",
    "SPEC_CODES",
    "ErrorCode",
    "RegistryError",
    "error_body",
    "parse_error_body",
]


@dataclass(frozen=True)
class ErrorCode:
    """One row of the table: the wire code, its default message and the HTTP status it maps to."""

    code: str
    message: str
    status: int


_TABLE: tuple[tuple[str, str, int], ...] = (
    # spec.md error codes code-1 .. code-14
    ("BLOB_UNKNOWN", "blob unknown to registry", 404),
    ("BLOB_UPLOAD_INVALID", "blob upload invalid", 400),
    ("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404),
    ("DIGEST_INVALID", "provided digest did not match uploaded content", 400),
    ("MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400),
    ("MANIFEST_INVALID", "manifest invalid", 400),
    ("MANIFEST_UNKNOWN", "manifest unknown to registry", 404),
    ("NAME_INVALID", "invalid repository name", 400),
    ("NAME_UNKNOWN", "repository name not known to registry", 404),
    ("SIZE_INVALID", "provided length did not match content length", 400),
    ("UNAUTHORIZED", "authentication required", 401),
    ("DENIED", "requested access to the resource is denied", 403),
    ("UNSUPPORTED", "the operation is unsupported", 405),
    ("TOOMANYREQUESTS", "too many requests", 429),
    # codes CNCF distribution adds; clients handle them as generic errors
    ("TAG_INVALID", "manifest tag did not match URI", 400),
    ("RANGE_INVALID", "invalid content range", 416),
    ("PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400),
    ("UNAVAILABLE", "service unavailable", 503),
    ("UNKNOWN", "unknown error", 500),
)

CODES: dict[str, ErrorCode] = {code: ErrorCode(code, message, status) for code, message, status in _TABLE}
SPEC_CODES: tuple[str, ...] = tuple(row[0] for row in _TABLE[:14])


class RegistryError(Exception):
    """A registry-level failure with its wire code; ``status`` may override the table's default and
    ``headers`` adds response headers (a 401's challenge, a 416's Content-Range).

    Raised by the server's handlers and by the client when it decodes an error body.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        entry = CODES.get(code)
        if entry is None:
            raise ValueError(f"unknown registry error code {code!r}")
        self.code = code
        self.message = message or entry.message
        self.detail = detail
        self.status = status if status is not None else entry.status
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


def error_body(*errors: RegistryError) -> bytes:
    """The JSON body for one or more errors (spec.md "Error Codes")."""
    return json.dumps({"errors": [e.to_dict() for e in errors]}, separators=(",", ":")).encode()


def parse_error_body(body: bytes, status: int) -> list[RegistryError]:
    """Decode an error body; codes this table does not know become ``UNKNOWN`` with the status kept."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    items = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    out: list[RegistryError] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        code = item.get("code")
        message = item.get("message")
        msg = message if isinstance(message, str) else None
        if isinstance(code, str) and code in CODES:
            out.append(RegistryError(code, msg, detail=item.get("detail"), status=status))
        else:
            out.append(RegistryError("UNKNOWN", f"{code}: {msg}", detail=item.get("detail"), status=status))
    return out
