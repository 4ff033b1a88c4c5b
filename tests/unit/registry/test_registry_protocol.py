"""Every distribution-spec endpoint and error code against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from registry_helpers import ServerThread, image_manifest, push_blob, push_image, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def test_ping_has_api_version_header(server: ServerThread) -> None:
    r = server.request("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_monolithic_push_then_pull_head_and_range(server: ServerThread) -> None:
    data = os.urandom(10000)
    digest = push_blob(server, "lib/a", data)
    r = server.request("GET", f"/v2/lib/a/blobs/{digest}")
    assert r.status == 200 and r.body == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == "10000"
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    h = server.request("HEAD", f"/v2/lib/a/blobs/{digest}")
    assert h.status == 200 and h.body == b"" and h.headers["Content-Length"] == "10000"
    p = server.request("GET", f"/v2/lib/a/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert p.status == 206 and p.body == data[100:200]
    assert p.headers["Content-Range"] == "bytes 100-199/10000"
    s = server.request("GET", f"/v2/lib/a/blobs/{digest}", headers={"Range": "bytes=-10"})
    assert s.status == 206 and s.body == data[-10:]
    bad = server.request("GET", f"/v2/lib/a/blobs/{digest}", headers={"Range": "bytes=20000-"})
    assert bad.status == 416 and bad.headers["Content-Range"] == "bytes */10000"
    nm = server.request("GET", f"/v2/lib/a/blobs/{digest}", headers={"If-None-Match": f'"{digest}"'})
    assert nm.status == 304


def test_blob_unknown_and_not_visible_in_other_repository(server: ServerThread) -> None:
    digest = push_blob(server, "one", b"private")
    r = server.request("GET", f"/v2/two/blobs/{digest}")
    assert r.status == 404 and r.codes == ["BLOB_UNKNOWN"]
    r = server.request("HEAD", f"/v2/one/blobs/{sha256(b'nope')}")
    assert r.status == 404


def test_post_then_put(server: ServerThread) -> None:
    data = b"post then put"
    r = server.request("POST", "/v2/r/blobs/uploads/")
    assert r.status == 202
    loc = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in loc
    assert r.headers["Blob-Upload-Session-ID"] == r.headers["Docker-Upload-UUID"]
    r = server.request(
        "PUT", f"{loc}?digest={sha256(data)}", data, {"Content-Type": "application/octet-stream"}
    )
    assert r.status == 201, r.body
    assert r.headers["Location"] == f"/v2/r/blobs/{sha256(data)}"
    assert server.request("GET", r.headers["Location"]).body == data


def test_chunked_upload_in_order_status_and_out_of_order(server: ServerThread) -> None:
    data = os.urandom(3000)
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    r = server.request(
        "PATCH", loc, data[:1000], {"Content-Range": "0-999", "Content-Type": "application/octet-stream"}
    )
    assert r.status == 202 and r.headers["Range"] == "0-999"
    # overlapping and gapped chunks are refused with 416 and the true range
    for rng, body in (("500-1499", data[500:1500]), ("1001-2000", data[1001:2001])):
        bad = server.request("PATCH", loc, body, {"Content-Range": rng})
        assert bad.status == 416, rng
        assert bad.headers["Range"] == "0-999"
    st = server.request("GET", loc)
    assert st.status == 204 and st.headers["Range"] == "0-999"
    r = server.request("PATCH", loc, data[1000:2000], {"Content-Range": "1000-1999"})
    assert r.status == 202 and r.headers["Range"] == "0-1999"
    r = server.request("PUT", f"{loc}?digest={sha256(data)}", data[2000:], {"Content-Range": "2000-2999"})
    assert r.status == 201, r.body
    assert server.request("GET", f"/v2/r/blobs/{sha256(data)}").body == data


def test_streamed_patch_without_content_range(server: ServerThread) -> None:
    data = os.urandom(5000)
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert server.request("PATCH", loc, data[:2500]).status == 202
    r = server.request("PATCH", loc, data[2500:])
    assert r.headers["Range"] == "0-4999"
    assert server.request("PUT", f"{loc}?digest={sha256(data)}").status == 201


def test_streamed_body_in_small_pieces_spans_writer_batches(server: ServerThread) -> None:
    """A chunked (Transfer-Encoding) body sent in many small pieces, as skopeo streams a layer it compresses
    on the fly, is written and hashed in batches off the event loop: every byte lands, in order."""
    import http.client

    data = os.urandom(5 * 1024 * 1024 + 12345)
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        pieces = (data[i : i + 32768] for i in range(0, len(data), 32768))
        conn.request("PATCH", loc, body=pieces, encode_chunked=True)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 202 and resp.headers["Range"] == f"0-{len(data) - 1}"
    finally:
        conn.close()
    assert server.request("PUT", f"{loc}?digest={sha256(data)}").status == 201
    assert server.request("GET", f"/v2/r/blobs/{sha256(data)}").body == data


def test_content_range_length_mismatch_is_size_invalid(server: ServerThread) -> None:
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    r = server.request("PATCH", loc, b"abcd", {"Content-Range": "0-9"})
    assert r.status == 400 and r.codes == ["SIZE_INVALID"]


def test_digest_mismatch_and_missing_digest(server: ServerThread) -> None:
    r = server.request("POST", f"/v2/r/blobs/uploads/?digest={sha256(b'other')}", b"content")
    assert r.status == 400 and r.codes == ["DIGEST_INVALID"]
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    r = server.request("PUT", loc, b"x")
    assert r.status == 400 and r.codes == ["DIGEST_INVALID"]
    r = server.request("POST", "/v2/r/blobs/uploads/?digest=sha256:zz", b"x")
    assert r.status == 400 and r.codes == ["DIGEST_INVALID"]
    # a digest the content does not match leaves no blob behind
    assert server.request("HEAD", f"/v2/r/blobs/{sha256(b'other')}").status == 404


def test_sha512_upload(server: ServerThread) -> None:
    import hashlib

    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    loc = server.request("POST", "/v2/r/blobs/uploads/?digest-algorithm=sha512").headers["Location"]
    server.request("PATCH", loc, data)
    assert server.request("PUT", f"{loc}?digest={digest}").status == 201
    assert server.request("GET", f"/v2/r/blobs/{digest}").body == data
    r = server.request("POST", "/v2/r/blobs/uploads/?digest-algorithm=md5")
    assert r.status == 400 and r.codes == ["BLOB_UPLOAD_INVALID"]


def test_upload_cancel_and_unknown(server: ServerThread) -> None:
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert server.request("DELETE", loc).status == 204
    for method in ("GET", "PATCH", "DELETE"):
        r = server.request(method, loc, b"x" if method == "PATCH" else None)
        assert r.status == 404 and r.codes == ["BLOB_UPLOAD_UNKNOWN"], method
    r = server.request("GET", "/v2/r/blobs/uploads/not-an-id")
    assert r.status == 404 and r.codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_cross_repository_mount(server: ServerThread) -> None:
    digest = push_blob(server, "src/repo", b"shared layer")
    r = server.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}&from=src/repo")
    assert r.status == 201 and r.headers["Location"] == f"/v2/dst/blobs/{digest}"
    assert server.request("GET", f"/v2/dst/blobs/{digest}").body == b"shared layer"
    # a blob the source does not have: fall back to an upload session
    missing = sha256(b"missing")
    r = server.request("POST", f"/v2/dst2/blobs/uploads/?mount={missing}&from=src/repo")
    assert r.status == 202 and "/v2/dst2/blobs/uploads/" in r.headers["Location"]
    # from a repository that lacks it, even though the registry stores it
    r = server.request("POST", f"/v2/dst3/blobs/uploads/?mount={digest}&from=other")
    assert r.status == 202


def test_manifest_push_pull_by_tag_and_digest(server: ServerThread) -> None:
    digest, body = push_image(server, "lib/img", "v1")
    for ref in ("v1", digest):
        r = server.request("GET", f"/v2/lib/img/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status == 200 and r.body == body
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        h = server.request("HEAD", f"/v2/lib/img/manifests/{ref}")
        assert h.status == 200 and h.headers["Content-Length"] == str(len(body)) and h.body == b""
    r = server.request("GET", "/v2/lib/img/manifests/nope")
    assert r.status == 404 and r.codes == ["MANIFEST_UNKNOWN"]
    r = server.request("GET", f"/v2/lib/img/manifests/{sha256(b'nope')}")
    assert r.status == 404 and r.codes == ["MANIFEST_UNKNOWN"]


def test_manifest_stored_byte_for_byte_with_its_content_type(server: ServerThread) -> None:
    config, layer = b"{}", b"L"
    push_blob(server, "r", config)
    push_blob(server, "r", layer)
    docker_type = "application/vnd.docker.distribution.manifest.v2+json"
    doc = json.loads(image_manifest(config, [layer]))
    doc["mediaType"] = docker_type
    body = json.dumps(doc, indent=3).encode() + b"\n\n"
    r = server.request("PUT", "/v2/r/manifests/t", body, {"Content-Type": docker_type})
    assert r.status == 201, r.body
    g = server.request("GET", "/v2/r/manifests/t")
    assert g.body == body and g.headers["Content-Type"] == docker_type
    assert g.headers["Docker-Content-Digest"] == sha256(body)


def test_manifest_put_by_digest_with_several_tags(server: ServerThread) -> None:
    config, layer = b"{}", b"L"
    push_blob(server, "r", config)
    push_blob(server, "r", layer)
    body = image_manifest(config, [layer])
    r = server.request(
        "PUT", f"/v2/r/manifests/{sha256(body)}?tag=a&tag=b&tag=c", body, {"Content-Type": OCI_MANIFEST}
    )
    assert r.status == 201 and r.headers["Location"] == f"/v2/r/manifests/{sha256(body)}"
    assert server.request("GET", "/v2/r/tags/list").json()["tags"] == ["a", "b", "c"]
    wrong = server.request("PUT", f"/v2/r/manifests/{sha256(b'x')}", body, {"Content-Type": OCI_MANIFEST})
    assert wrong.status == 400 and wrong.codes == ["DIGEST_INVALID"]


def test_manifest_validation(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(max_manifest_bytes=2048)
    ct = {"Content-Type": OCI_MANIFEST}
    r = server.request("PUT", "/v2/r/manifests/t", image_manifest(b"{}", [b"missing", b"gone"]), ct)
    assert r.status == 400 and r.codes == ["MANIFEST_BLOB_UNKNOWN"] * 3  # one per unknown blob
    assert {e["detail"]["digest"] for e in r.json()["errors"]} == {
        sha256(b"{}"),
        sha256(b"missing"),
        sha256(b"gone"),
    }
    r = server.request("PUT", "/v2/r/manifests/t", b"not json", ct)
    assert r.status == 400 and r.codes == ["MANIFEST_INVALID"]
    r = server.request("PUT", "/v2/r/manifests/t", b'{"schemaVersion":2,"config":{}}', ct)
    assert r.status == 400 and r.codes == ["MANIFEST_INVALID"]
    r = server.request("PUT", "/v2/r/manifests/t", b"{" + b" " * 4096 + b"}", ct)
    assert r.status == 413 and r.codes == ["SIZE_INVALID"]
    r = server.request("PUT", "/v2/r/manifests/bad:tag:x", b"{}", ct)
    assert r.status == 400
    r = server.request("PUT", "/v2/r/manifests/.bad", b"{}", ct)
    assert r.status == 400 and r.codes == ["TAG_INVALID"]
    # mediaType in the body must agree with Content-Type
    push_blob(server, "r", b"{}")
    push_blob(server, "r", b"L")
    r = server.request("PUT", "/v2/r/manifests/t", image_manifest(b"{}", [b"L"]), {"Content-Type": OCI_INDEX})
    assert r.status == 400 and r.codes == ["MANIFEST_INVALID"]


def test_descriptor_size_must_match_the_blob(server: ServerThread) -> None:
    push_blob(server, "r", b"{}")
    push_blob(server, "r", b"LAYER")
    doc = json.loads(image_manifest(b"{}", [b"LAYER"]))
    doc["layers"][0]["size"] = 4
    r = server.request("PUT", "/v2/r/manifests/t", json.dumps(doc).encode(), {"Content-Type": OCI_MANIFEST})
    assert r.status == 400 and r.codes == ["MANIFEST_INVALID"]


def test_mount_without_from(server: ServerThread) -> None:
    digest = push_blob(server, "src", b"anywhere")
    r = server.request("POST", f"/v2/dst/blobs/uploads/?mount={digest}")
    assert r.status == 201  # anonymous registry: any stored blob may be mounted (spec allows it)


def test_index_children_must_exist(server: ServerThread) -> None:
    child, child_body = push_image(server, "r", "child")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)}],
    }
    ct = {"Content-Type": OCI_INDEX}
    assert server.request("PUT", "/v2/r/manifests/multi", json.dumps(index).encode(), ct).status == 201
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": sha256(b"absent"), "size": 5})
    r = server.request("PUT", "/v2/r/manifests/multi2", json.dumps(index).encode(), ct)
    assert r.status == 400 and r.codes == ["MANIFEST_BLOB_UNKNOWN"]


def test_tags_list_pagination(server: ServerThread) -> None:
    for tag in ("c", "a", "e", "b", "d"):
        push_image(server, "r", tag)
    r = server.request("GET", "/v2/r/tags/list")
    assert r.json() == {"name": "r", "tags": ["a", "b", "c", "d", "e"]}
    r = server.request("GET", "/v2/r/tags/list?n=2")
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["Link"] == '</v2/r/tags/list?n=2&last=b>; rel="next"'
    r = server.request("GET", "/v2/r/tags/list?n=2&last=b")
    assert r.json()["tags"] == ["c", "d"]
    r = server.request("GET", "/v2/r/tags/list?n=2&last=d")
    assert r.json()["tags"] == ["e"] and "Link" not in r.headers
    assert server.request("GET", "/v2/r/tags/list?n=0").json()["tags"] == []
    r = server.request("GET", "/v2/r/tags/list?n=-1")
    assert r.status == 400 and r.codes == ["PAGINATION_NUMBER_INVALID"]
    r = server.request("GET", "/v2/unknown/tags/list")
    assert r.status == 404 and r.codes == ["NAME_UNKNOWN"]


def test_catalog_pagination(server: ServerThread) -> None:
    for name in ("b/x", "a", "c"):
        push_blob(server, name, b"z")
    assert server.request("GET", "/v2/_catalog").json() == {"repositories": ["a", "b/x", "c"]}
    r = server.request("GET", "/v2/_catalog?n=1&last=a")
    assert r.json()["repositories"] == ["b/x"]
    assert r.headers["Link"] == '</v2/_catalog?n=1&last=b/x>; rel="next"'


def test_referrers(server: ServerThread) -> None:
    subject, subject_body = push_image(server, "r", "base")
    empty = b"{}"
    push_blob(server, "r", empty)
    ct = {"Content-Type": OCI_MANIFEST}

    def artifact(kind: str, annotation: str) -> bytes:
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": kind,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": sha256(empty),
                    "size": 2,
                },
                "layers": [
                    {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2}
                ],
                "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)},
                "annotations": {"note": annotation},
            }
        ).encode()

    sig, sbom = artifact("application/x.sig", "s"), artifact("application/x.sbom", "b")
    for body in (sig, sbom):
        r = server.request("PUT", f"/v2/r/manifests/{sha256(body)}", body, ct)
        assert r.status == 201 and r.headers["OCI-Subject"] == subject
    r = server.request("GET", f"/v2/r/referrers/{subject}")
    assert r.status == 200 and r.headers["Content-Type"] == OCI_INDEX
    doc = r.json()
    assert doc["mediaType"] == OCI_INDEX and doc["schemaVersion"] == 2
    assert {d["digest"] for d in doc["manifests"]} == {sha256(sig), sha256(sbom)}
    one = next(d for d in doc["manifests"] if d["digest"] == sha256(sig))
    assert one == {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(sig),
        "size": len(sig),
        "artifactType": "application/x.sig",
        "annotations": {"note": "s"},
    }
    r = server.request("GET", f"/v2/r/referrers/{subject}?artifactType=application/x.sbom")
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in r.json()["manifests"]] == [sha256(sbom)]
    # deleting a referrer removes it from the index
    assert server.request("DELETE", f"/v2/r/manifests/{sha256(sig)}").status == 202
    assert [d["digest"] for d in server.request("GET", f"/v2/r/referrers/{subject}").json()["manifests"]] == [
        sha256(sbom)
    ]
    r = server.request("GET", "/v2/r/referrers/sha256:bad")
    assert r.status == 400 and r.codes == ["DIGEST_INVALID"]


def test_referrer_pushed_before_its_subject(server: ServerThread) -> None:
    empty = b"{}"
    push_blob(server, "r", empty)
    absent = sha256(b"subject to come")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/x.config", "digest": sha256(empty), "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": absent, "size": 10},
        }
    ).encode()
    r = server.request("PUT", "/v2/r/manifests/early", body, {"Content-Type": OCI_MANIFEST})
    assert r.status == 201 and r.headers["OCI-Subject"] == absent
    doc = server.request("GET", f"/v2/r/referrers/{absent}").json()
    # no artifactType on the manifest: the config's mediaType stands in
    assert doc["manifests"][0]["artifactType"] == "application/x.config"
    empty_list = server.request("GET", f"/v2/r/referrers/{sha256(b'none')}")
    assert empty_list.status == 200 and empty_list.json()["manifests"] == []


def test_delete_manifest_by_digest_and_by_tag(server: ServerThread) -> None:
    digest, _ = push_image(server, "r", "t1")
    server.request(
        "PUT",
        "/v2/r/manifests/t2",
        server.request("GET", "/v2/r/manifests/t1").body,
        {"Content-Type": OCI_MANIFEST},
    )
    assert server.request("DELETE", "/v2/r/manifests/t1").status == 202
    assert server.request("GET", "/v2/r/manifests/t1").status == 404
    assert server.request("GET", "/v2/r/manifests/t2").status == 200
    assert server.request("GET", f"/v2/r/manifests/{digest}").status == 200
    assert server.request("DELETE", f"/v2/r/manifests/{digest}").status == 202
    assert server.request("GET", f"/v2/r/manifests/{digest}").status == 404
    assert server.request("GET", "/v2/r/tags/list").json()["tags"] == []
    r = server.request("DELETE", f"/v2/r/manifests/{digest}")
    assert r.status == 404 and r.codes == ["MANIFEST_UNKNOWN"]


def test_delete_blob(server: ServerThread) -> None:
    digest = push_blob(server, "r", b"to delete")
    assert server.request("DELETE", f"/v2/r/blobs/{digest}").status == 202
    assert server.request("GET", f"/v2/r/blobs/{digest}").status == 404
    r = server.request("DELETE", f"/v2/r/blobs/{digest}")
    assert r.status == 404 and r.codes == ["BLOB_UNKNOWN"]


def test_deletes_disabled_is_unsupported(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(delete_enabled=False)
    digest, _ = push_image(server, "r", "t")
    for path in (f"/v2/r/manifests/{digest}", "/v2/r/manifests/t", f"/v2/r/blobs/{digest}"):
        r = server.request("DELETE", path)
        assert r.status == 405 and r.codes == ["UNSUPPORTED"], path


def test_read_only_mode(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(read_only=True)
    r = server.request("POST", "/v2/r/blobs/uploads/")
    assert r.status == 405 and r.codes == ["UNSUPPORTED"]
    assert server.request("GET", "/v2/").status == 200


def test_names_are_validated_and_cannot_traverse(server: ServerThread) -> None:
    for name in ("UPPER", "a/../b", "a//b", "-a", "a/_layers", "..", "a/./b"):
        r = server.request("GET", f"/v2/{name}/tags/list")
        assert r.status in (400, 404), name
        if r.status == 400:
            assert r.codes == ["NAME_INVALID"], name
    r = server.request("GET", "/v2/r/manifests/..%2F..%2Fetc")
    assert r.status in (400, 404) and r.codes[0] in ("NAME_UNKNOWN", "TAG_INVALID")
    r = server.request("GET", "/v2/r/blobs/uploads/..%2F..")
    assert r.status == 404
    r = server.request("GET", "/v2/r/blobs/uploads/..")
    assert r.status == 404 and r.codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_unsupported_method_and_unknown_path(server: ServerThread) -> None:
    r = server.request("PATCH", "/v2/r/manifests/t", b"x")
    assert r.status == 405 and r.codes == ["UNSUPPORTED"]
    r = server.request("GET", "/v2/nothing-here")
    assert r.status == 404


def test_health_and_metrics(server: ServerThread) -> None:
    assert server.request("GET", "/health").json()["status"] == "ok"
    server.request("GET", "/v2/")
    text = server.request("GET", "/metrics").body.decode()
    assert 'ketch_registry_requests_total{method="GET",route="end-1",status="200"}' in text
    assert "ketch_registry_request_duration_seconds_bucket" in text


def test_rate_limit_is_toomanyrequests(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(rate_limit=0.001, rate_burst=2)
    assert server.request("GET", "/v2/").status == 200
    assert server.request("GET", "/v2/").status == 200
    r = server.request("GET", "/v2/")
    assert r.status == 429 and r.codes == ["TOOMANYREQUESTS"]
    assert int(r.headers["Retry-After"]) >= 1


def test_rate_limiter_refills() -> None:
    from ketch.registry.server.ratelimit import RateLimiter

    lim = RateLimiter(rate=2.0, burst=1)
    assert lim.check("a", now=0.0) == 0.0
    assert lim.check("a", now=0.1) > 0.0
    assert lim.check("b", now=0.1) == 0.0  # per client
    assert lim.check("a", now=0.6) == 0.0


def test_empty_blob(server: ServerThread) -> None:
    empty = sha256(b"")
    loc = server.request("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert server.request("PUT", f"{loc}?digest={empty}").status == 201
    r = server.request("GET", f"/v2/r/blobs/{empty}")
    assert r.status == 200 and r.body == b"" and r.headers["Content-Length"] == "0"
    assert server.request("POST", f"/v2/r2/blobs/uploads/?digest={empty}", b"").status == 201
