"""Reference parsing and docker.io normalisation."""

from __future__ import annotations

import pytest

from ketch.spec.reference import InvalidReference, parse_reference

H = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("user/app", "docker.io/user/app:latest"),
        ("index.docker.io/busybox", "docker.io/library/busybox:latest"),
        ("example.com/ns/app:tag", "example.com/ns/app:tag"),
        (f"example.com/ns/app@{H}", f"example.com/ns/app@{H}"),
        (f"example.com/app:v1@{H}", f"example.com/app:v1@{H}"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("localhost/x:y", "localhost/x:y"),
        ("[::1]:5000/a/b:c", "[::1]:5000/a/b:c"),
        ("[fe80::1]/a", "[fe80::1]/a:latest"),
        ("127.0.0.1:5000/a__b/c-d.e", "127.0.0.1:5000/a__b/c-d.e:latest"),
        ("Example.COM/a", "Example.COM/a:latest"),
    ],
)
def test_normalisation(text: str, full: str) -> None:
    assert str(parse_reference(text)) == full


def test_parts_and_familiar() -> None:
    r = parse_reference("busybox")
    assert (r.domain, r.path, r.tag, r.digest) == ("docker.io", "library/busybox", "latest", None)
    assert r.familiar() == "busybox:latest"
    assert parse_reference("localhost:5000/x").registry_host == "localhost:5000"
    assert parse_reference("x", default_tag=False).tag is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UPPER",
        "Upper/app",
        "a//b",
        "app:",
        "app:-bad",
        "app@sha256:123",
        "example.com/",
        "[::1/x",
        "[zz::1]:5/x",
        "host:port/x",
        "-a.com/x",
        "a/b_/c",
        "a:" + "t" * 129,
        "x/" + "a" * 260,
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)
