"""Pull and push against ketch's registry on 127.0.0.1: layers, platforms, mounts, chunked uploads, tags,
referrers; and against a misbehaving registry: wrong bytes are refused, cut connections resumed."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from client_helpers import FakeRegistry, build_image, build_index, repository, with_platform
from registry_helpers import ServerThread

from ketch._common.digest import Digest
from ketch.image.blobs import read_verified
from ketch.image.platform import host_platform, parse_platform, select_manifest
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.registry.client import ContentMismatch, NotFound, attach, list_referrers, pull, push
from ketch.spec.image import Descriptor, Index, Manifest


def _select(platform: str | None = None) -> Callable[..., Descriptor]:
    wanted = parse_platform(platform) if platform else None
    return lambda read, target: select_manifest(read, target, wanted).descriptor


def _files(n: int, size: int = 50_000) -> list[dict[str, bytes]]:
    return [{f"layer{i}/data.bin": os.urandom(size), f"layer{i}/name": f"{i}".encode()} for i in range(n)]


@pytest.fixture
def stores(tmp_path: Path) -> tuple[ImageStore, ImageStore]:
    return ImageStore(str(tmp_path / "src"), durable=False), ImageStore(str(tmp_path / "dst"), durable=False)


def test_push_then_pull_a_multi_layer_image(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, dst = stores
    root = build_image(src, tmp_path, _files(3))
    repo = repository(f"127.0.0.1:{server.port}", "team/app", tmp_path)
    read = lambda d: read_verified(src.content, d)  # noqa: E731
    result = push(repo, "v1", src.content, root, read)
    assert len(result.uploaded) == 4 and result.target.digest == root.digest
    # pushing again uploads nothing: every blob is found with HEAD
    again = push(repo, "v1", src.content, root, read)
    assert again.uploaded == [] and len(again.existed) == 4

    pulled = pull(repo, "v1", dst.content, select=_select())
    assert pulled.target.digest == root.digest and pulled.fetched == 4
    image = load_image(dst.content, pulled.target)
    assert [layer.digest for layer in image.manifest.layers] == [
        layer.digest for layer in Manifest.parse(read(root)).layers
    ]
    for info in src.content.walk():
        with src.content.open(info.digest) as a, dst.content.open(info.digest) as b:
            assert a.read() == b.read()
    # a second pull fetches nothing: all blobs are present
    second = pull(repo, "v1", dst.content, select=_select())
    assert second.fetched == 0 and second.skipped == 4
    assert dst.content.ingests() == []


def test_multi_platform_index_push_and_platform_selection(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, dst = stores
    host = host_platform()
    other = "arm64" if host.architecture != "arm64" else "amd64"
    m_host = with_platform(build_image(src, tmp_path, _files(2, 1000)), host.architecture)
    m_other = with_platform(build_image(src, tmp_path, _files(2, 1000), architecture=other), other)
    index = build_index(src, [m_host, m_other])
    repo = repository(f"127.0.0.1:{server.port}", "multi", tmp_path)
    read = lambda d: read_verified(src.content, d)  # noqa: E731
    result = push(repo, "latest", src.content, index, read, all_platforms=True)
    assert [m.digest for m in result.manifests] == [m_host.digest, m_other.digest, index.digest]

    mine = pull(repo, "latest", dst.content, select=_select())
    assert mine.resolved.digest == index.digest and mine.target.digest == m_host.digest
    theirs = pull(repo, "latest", dst.content, select=_select(f"linux/{other}"))
    assert theirs.target.digest == m_other.digest
    everything = pull(
        repo, "latest", ImageStore(str(tmp_path / "all"), durable=False).content, all_platforms=True
    )
    assert everything.target.digest == index.digest and len(everything.manifests) == 2

    # without --all-platforms only the selected platform's manifest is pushed (under the tag)
    single = push(
        repository(f"127.0.0.1:{server.port}", "single", tmp_path),
        "x",
        src.content,
        index,
        read,
        select=_select(),
    )
    assert single.target.digest == m_host.digest


def test_cross_repository_mount_is_used(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, _ = stores
    root = build_image(src, tmp_path, _files(2, 5000))
    domain = f"127.0.0.1:{server.port}"
    read = lambda d: read_verified(src.content, d)  # noqa: E731
    push(repository(domain, "origin", tmp_path), "v1", src.content, root, read)
    result = push(
        repository(domain, "copy", tmp_path), "v1", src.content, root, read, mount_from=lambda d: ["origin"]
    )
    assert len(result.mounted) == 3 and result.uploaded == []
    assert server.app is not None
    from ketch.registry.server.context import CTX

    requests = server.app[CTX].metrics.requests
    mounted = sum(n for (method, route, status), n in requests.items() if method == "POST" and status == 201)
    assert mounted == 3  # the server answered 201 Created to three mount requests


def test_chunked_upload_for_large_blobs(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, dst = stores
    root = build_image(src, tmp_path, _files(1, 300_000))
    repo = repository(f"127.0.0.1:{server.port}", "chunky", tmp_path)
    read = lambda d: read_verified(src.content, d)  # noqa: E731
    push(repo, "v1", src.content, root, read, chunk_threshold=10_000, chunk_size=64 * 1024)
    from ketch.registry.server.context import CTX

    assert server.app is not None
    patches = sum(
        n for (m, _r, s), n in server.app[CTX].metrics.requests.items() if m == "PATCH" and s == 202
    )
    assert patches >= 2
    assert pull(repo, "v1", dst.content, select=_select()).target.digest == root.digest


def test_tags_follow_pagination_and_missing_things_are_not_found(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, dst = stores
    root = build_image(src, tmp_path, _files(1, 100))
    repo = repository(f"127.0.0.1:{server.port}", "tagged", tmp_path)
    read = lambda d: read_verified(src.content, d)  # noqa: E731
    for tag in ("a", "b", "c"):
        push(repo, tag, src.content, root, read)
    assert sorted(repo.tags(page_size=1)) == ["a", "b", "c"]
    with pytest.raises(NotFound, match="tagged:nope"):
        pull(repo, "nope", dst.content, select=_select())
    with pytest.raises(NotFound):
        repository(f"127.0.0.1:{server.port}", "absent", tmp_path).tags()


def test_referrers_api_attach_and_list(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, _ = stores
    root = build_image(src, tmp_path, _files(1, 100))
    repo = repository(f"127.0.0.1:{server.port}", "signed", tmp_path)
    push(repo, "v1", src.content, root, lambda d: read_verified(src.content, d))
    sig = tmp_path / "sig.txt"
    sig.write_bytes(b"signature")
    file_desc = Descriptor(media_type="text/plain", digest=Digest.from_bytes(b"signature"), size=9)
    desc, how = attach(
        repo, root, "application/vnd.example.sig", [(file_desc, functools.partial(open, sig, "rb"))]
    )
    assert how == "api"
    found, via = list_referrers(repo, root.digest)
    assert via == "api" and [e.digest for e in found] == [desc.digest]
    assert list_referrers(repo, root.digest, "application/other")[0] == []


def test_wrong_bytes_are_refused_and_nothing_is_committed(tmp_path: Path) -> None:
    fake = FakeRegistry().start()
    try:
        layer = os.urandom(20_000)
        fake.add_image(
            "v1", b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', [layer]
        )
        bad = Digest("sha256:" + hashlib.sha256(layer).hexdigest())
        fake.corrupt.add(bad)
        store = ImageStore(str(tmp_path / "s"), durable=False)
        repo = repository(fake.domain, "bad/image", tmp_path)
        with pytest.raises(ContentMismatch, match="does not match"):
            pull(repo, "v1", store.content, select=_select())
        assert not store.content.has(bad)
        assert store.content.ingests() == []
    finally:
        fake.stop()


def test_a_blob_cut_mid_transfer_is_resumed_with_range(tmp_path: Path) -> None:
    fake = FakeRegistry().start()
    try:
        layer = os.urandom(3_000_000)
        digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        fake.add_image(
            "v1", b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', [layer]
        )
        fake.cut_after[digest] = 1_234_567
        store = ImageStore(str(tmp_path / "s"), durable=False)
        result = pull(repository(fake.domain, "cut/image", tmp_path), "v1", store.content, select=_select())
        assert result.fetched == 2
        assert (
            fake.range_requests
            and fake.range_requests[0].startswith("bytes=")
            and fake.range_requests[0] != "bytes=0-"
        )
        with store.content.open(Digest(digest)) as f:
            assert f.read() == layer
    finally:
        fake.stop()


def test_an_interrupted_pull_resumes_from_the_ingest(tmp_path: Path) -> None:
    """A blob left half-written by an earlier pull (the process died) is continued with Range."""
    fake = FakeRegistry().start()
    try:
        layer = os.urandom(500_000)
        digest = Digest("sha256:" + hashlib.sha256(layer).hexdigest())
        fake.add_image(
            "v1", b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', [layer]
        )
        store = ImageStore(str(tmp_path / "s"), durable=False)
        w = store.content.writer(f"pull-{digest}", digest, len(layer))
        w.write(layer[:200_000])
        w.close()
        result = pull(
            repository(fake.domain, "resume/image", tmp_path), "v1", store.content, select=_select()
        )
        assert result.fetched == 2 and fake.range_requests == ["bytes=200000-"]
        with store.content.open(digest) as f:
            assert f.read() == layer
    finally:
        fake.stop()


def test_index_body_matches_what_was_pushed(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    src, _ = stores
    m = with_platform(build_image(src, tmp_path, _files(1, 10)), host_platform().architecture)
    index = build_index(src, [m])
    repo = repository(f"127.0.0.1:{server.port}", "raw", tmp_path)
    push(repo, "v1", src.content, index, lambda d: read_verified(src.content, d), all_platforms=True)
    desc, data = repo.fetch_manifest("v1")
    assert desc.digest == index.digest and data == read_verified(src.content, index)
    assert Index.parse(data).manifests[0].digest == m.digest


def test_a_pull_waits_for_an_ingest_another_writer_holds(tmp_path: Path) -> None:
    """A concurrent pull of the same blob (another process holds its ingest) is waited for, not an error."""
    import threading

    from ketch.image.errors import IngestBusy

    fake = FakeRegistry().start()
    try:
        layer = os.urandom(100_000)
        digest = Digest("sha256:" + hashlib.sha256(layer).hexdigest())
        fake.add_image(
            "v1", b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', [layer]
        )
        store = ImageStore(str(tmp_path / "s"), durable=False)
        holder = store.content.writer(f"pull-{digest}", digest, len(layer))  # the "other" pull
        results: list[object] = []

        def run() -> None:
            try:
                results.append(
                    pull(
                        repository(fake.domain, "shared/image", tmp_path),
                        "v1",
                        store.content,
                        select=_select(),
                        busy=(IngestBusy,),
                    )
                )
            except Exception as e:  # reported below
                results.append(e)

        t = threading.Thread(target=run)
        t.start()
        while not store.content.has(Digest(sha256_of_config())):
            t.join(0.01)  # the config arrives; the layer waits for the holder
        holder.write(layer)
        holder.commit()
        t.join(30)
        (result,) = results
        assert not isinstance(result, Exception), result
        assert result.skipped == 1 and result.fetched == 1  # type: ignore[attr-defined]
        assert store.content.ingests() == []
    finally:
        fake.stop()


def sha256_of_config() -> str:
    return (
        "sha256:"
        + hashlib.sha256(
            b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        ).hexdigest()
    )


def test_a_chunk_cut_mid_upload_is_continued(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from client_helpers import CutUploadProxy

    src, dst = stores
    root = build_image(src, tmp_path, _files(1, 400_000))
    proxy = CutUploadProxy(server.port, cut_at=100_000)
    try:
        repo = repository(proxy.domain, "resumed/upload", tmp_path)
        read = lambda d: read_verified(src.content, d)  # noqa: E731
        result = push(repo, "v1", src.content, root, read, chunk_threshold=10_000, chunk_size=256 * 1024)
        assert proxy.cuts == 1 and len(result.uploaded) == 2
        from ketch.registry.server.context import CTX

        assert server.app is not None
        requests = server.app[CTX].metrics.requests
        # on the filesystem the registry keeps part of the cut chunk: the retried chunk no longer fits (416),
        # the client asks for the upload's status (end-13) and continues from the registry's offset. Over S3
        # whether the cut part was kept depends on timing; the push must succeed either way.
        if "[s3]" not in request.node.name:
            assert requests[("GET", "end-13", 204)] == 1
        assert pull(repo, "v1", dst.content, select=_select()).target.digest == root.digest
    finally:
        proxy.stop()


def test_docker_manifest_list_and_schema2(
    server: ServerThread, stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    """Docker's media types negotiate and select like the OCI ones."""
    import json

    from ketch.image.blobs import put_json
    from ketch.spec.image import (
        MT_DOCKER_CONFIG,
        MT_DOCKER_LAYER,
        MT_DOCKER_MANIFEST,
        MT_DOCKER_MANIFEST_LIST,
    )

    src, dst = stores
    oci = build_image(src, tmp_path, _files(1, 100))
    m = Manifest.parse(read_verified(src.content, oci))
    docker_manifest = {
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_MANIFEST,
        "config": {**m.config.to_json(), "mediaType": MT_DOCKER_CONFIG},
        "layers": [{**layer.to_json(), "mediaType": MT_DOCKER_LAYER} for layer in m.layers],
    }
    with src.lease():
        manifest = put_json(src.content, MT_DOCKER_MANIFEST, docker_manifest)
        entry = with_platform(manifest, host_platform().architecture)
        listing = put_json(
            src.content,
            MT_DOCKER_MANIFEST_LIST,
            {"schemaVersion": 2, "mediaType": MT_DOCKER_MANIFEST_LIST, "manifests": [entry.to_json()]},
        )
    repo = repository(f"127.0.0.1:{server.port}", "docker/list", tmp_path)
    push(repo, "v1", src.content, listing, lambda d: read_verified(src.content, d), all_platforms=True)
    desc, data = repo.fetch_manifest("v1")
    assert (
        desc.media_type == MT_DOCKER_MANIFEST_LIST
        and json.loads(data)["manifests"][0]["digest"] == manifest.digest
    )
    result = pull(repo, "v1", dst.content, select=_select())
    assert result.target.digest == manifest.digest and result.target.media_type == MT_DOCKER_MANIFEST
    assert load_image(dst.content, result.target).manifest.config.media_type == MT_DOCKER_CONFIG
