"""The distribution protocol's shared vocabulary: routes, error codes and header syntax.

Both the registry server and the registry client import this package; it imports nothing from either.
"""

from ketch.registry.api.errcodes import (
    CODES,
    SPEC_CODES,
    ErrorCode,
    RegistryError,
    error_body,
    parse_error_body,
)
from ketch.registry.api.headers import (
    ByteRange,
    Challenge,
    HeaderError,
    build_challenge,
    build_link,
    parse_byte_range,
    parse_challenges,
    parse_link_next,
    parse_upload_range,
    upload_range,
)
from ketch.registry.api.routes import NAME_PATTERN, REFERENCE_PATTERN, ROUTES, Route, route

__all__ = [
    "CODES",
    "NAME_PATTERN",
    "REFERENCE_PATTERN",
    "ROUTES",
    "SPEC_CODES",
    "ByteRange",
    "Challenge",
    "ErrorCode",
    "HeaderError",
    "RegistryError",
    "Route",
    "build_challenge",
    "build_link",
    "error_body",
    "parse_byte_range",
    "parse_challenges",
    "parse_error_body",
    "parse_link_next",
    "parse_upload_range",
    "route",
    "upload_range",
]
