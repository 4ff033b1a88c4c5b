"""The shared protocol vocabulary: error table, routes, header syntax."""

from __future__ import annotations

import json

import pytest

from ketch.registry.api import (
    CODES,
    SPEC_CODES,
    ByteRange,
    HeaderError,
    RegistryError,
    build_challenge,
    build_link,
    error_body,
    parse_byte_range,
    parse_challenges,
    parse_error_body,
    parse_link_next,
    parse_upload_range,
    route,
    upload_range,
)

SPEC_TABLE = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
}


def test_error_table_covers_every_spec_code() -> None:
    assert set(SPEC_CODES) == set(SPEC_TABLE)
    for code, status in SPEC_TABLE.items():
        assert CODES[code].status == status, code
        assert CODES[code].message


def test_error_body_round_trip() -> None:
    err = RegistryError("BLOB_UNKNOWN", detail={"digest": "sha256:x"})
    body = error_body(err)
    assert json.loads(body) == {
        "errors": [
            {"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": {"digest": "sha256:x"}}
        ]
    }
    [back] = parse_error_body(body, 404)
    assert back.code == "BLOB_UNKNOWN" and back.status == 404 and back.detail == {"digest": "sha256:x"}
    [odd] = parse_error_body(b'{"errors":[{"code":"WEIRD","message":"m"}]}', 500)
    assert odd.code == "UNKNOWN" and "WEIRD" in odd.message
    assert parse_error_body(b"<html>", 502) == []
    with pytest.raises(ValueError, match="NOPE"):
        RegistryError("NOPE")


def test_routes() -> None:
    assert (
        route("end-2").url(name="library/busybox", digest="sha256:ab")
        == "/v2/library/busybox/blobs/sha256:ab"
    )
    assert route("end-1").url() == "/v2/"
    assert route("end-3").params == ("name", "reference")
    with pytest.raises(KeyError, match="end-99"):
        route("end-99")
    with pytest.raises(KeyError, match="digest"):
        route("end-2").url(name="x")


def test_upload_ranges() -> None:
    assert parse_upload_range("0-999") == (0, 999)
    assert parse_upload_range("bytes=5-10") == (5, 10)
    for bad in ("", "5", "10-5", "a-b", "-5"):
        with pytest.raises(HeaderError):
            parse_upload_range(bad)
    assert upload_range(0) == "0-0"
    assert upload_range(1000) == "0-999"


def test_byte_ranges() -> None:
    assert parse_byte_range("bytes=0-9", 100) == ByteRange(0, 9)
    assert parse_byte_range("bytes=90-", 100) == ByteRange(90, 99)
    assert parse_byte_range("bytes=-5", 100) == ByteRange(95, 99)
    assert parse_byte_range("bytes=50-500", 100) == ByteRange(50, 99)
    assert parse_byte_range("bytes=0-1,5-6", 100) is None  # multiple ranges: serve it all
    assert parse_byte_range("items=0-1", 100) is None
    assert ByteRange(0, 9).content_range(100) == "bytes 0-9/100"
    with pytest.raises(HeaderError):
        parse_byte_range("bytes=100-", 100)
    with pytest.raises(HeaderError):
        parse_byte_range("bytes=-0", 100)


def test_challenges_round_trip() -> None:
    value = build_challenge(
        "Bearer", realm="https://r/token", service="reg", scope="repository:a/b:pull,push"
    )
    assert value == 'Bearer realm="https://r/token",service="reg",scope="repository:a/b:pull,push"'
    [c] = parse_challenges(value)
    assert c.scheme == "Bearer"
    assert c.params == {"realm": "https://r/token", "service": "reg", "scope": "repository:a/b:pull,push"}
    both = parse_challenges('Basic realm="x", Bearer realm="y",error=invalid_token')
    assert [c.scheme for c in both] == ["Basic", "Bearer"]
    assert both[1].params == {"realm": "y", "error": "invalid_token"}
    assert parse_challenges(r'Basic realm="a \"quoted\" realm"')[0].params["realm"] == 'a "quoted" realm'


def test_link() -> None:
    link = build_link("/v2/a/tags/list", n="2", last="b")
    assert link == '</v2/a/tags/list?n=2&last=b>; rel="next"'
    assert parse_link_next(link) == "/v2/a/tags/list?n=2&last=b"
    assert parse_link_next('<x>; rel="prev"') is None
