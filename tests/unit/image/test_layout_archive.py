"""OCI layouts, oci-archive and docker-archive: round trips, names, and bad input leaving the store as it was."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from image_testkit import MakeImage
from layer_tars import entry, make_tar

from ketch._common.digest import Digest
from ketch.image.archive import (
    detect_format,
    export_docker_archive,
    export_oci_archive,
    import_path,
)
from ketch.image.errors import ArchiveError, BlobInvalid, BlobNotFound
from ketch.image.layout import export_layout, import_layout
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.spec.image import Descriptor

L1 = make_tar(entry("bin", "dir"), entry("bin/sh", data=b"#!sh", mode=0o755))
L2 = make_tar(entry("etc", "dir"), entry("etc/motd", data=b"hi"), entry("bin/.wh.sh"))


def fresh(tmp_path: Path, name: str) -> ImageStore:
    return ImageStore(str(tmp_path / name), durable=False)


def blobs_of(store: ImageStore) -> set[str]:
    return {str(b.digest) for b in store.content.walk()}


def test_layout_round_trip(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    d = make_image(L1, L2, name="example.com/app:v1")
    store.put("other", d)
    index = export_layout(store, ["example.com/app:v1", "other"], str(tmp_path / "layout"))
    assert json.loads((tmp_path / "layout" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert [m.annotations for m in index.manifests] == [
        {"org.opencontainers.image.ref.name": "example.com/app:v1"},
        {"org.opencontainers.image.ref.name": "docker.io/library/other:latest"},
    ]
    assert not (tmp_path / "layout" / ".ingest").exists()
    other = fresh(tmp_path, "b")
    imported = import_layout(other, str(tmp_path / "layout"))
    assert [i.name for i in imported] == ["example.com/app:v1", "docker.io/library/other:latest"]
    assert blobs_of(other) == blobs_of(store)
    assert len(load_image(other.content, other.get("example.com/app:v1").target).layers) == 2


def test_tag_only_ref_names(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    make_image(L1, name="app:v2")
    export_layout(store, ["app:v2"], str(tmp_path / "layout"), ref_names="tag")
    other = fresh(tmp_path, "b")
    # a bare tag needs a repository from the user; without one the image is imported unnamed
    assert import_layout(other, str(tmp_path / "layout"))[0].name is None
    assert (
        import_layout(other, str(tmp_path / "layout"), "example.com/ns/app")[0].name
        == "example.com/ns/app:v2"
    )


def test_layout_missing_blob_names_nothing(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    d = make_image(L1, L2, name="app")
    layout = tmp_path / "layout"
    export_layout(store, ["app"], str(layout))
    image = load_image(store.content, d)
    victim = image.manifest.layers[1].digest
    os.unlink(layout / "blobs" / "sha256" / victim.hex)
    other = fresh(tmp_path, "b")
    with pytest.raises(BlobNotFound, match=f"refers to blob {victim}"):
        import_layout(other, str(layout))
    assert other.images() == []


def test_layout_corrupt_blob(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    d = make_image(L1, name="app")
    layout = tmp_path / "layout"
    export_layout(store, ["app"], str(layout))
    layer = load_image(store.content, d).manifest.layers[0].digest
    path = layout / "blobs" / "sha256" / layer.hex
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"X")
    other = fresh(tmp_path, "b")
    with pytest.raises(BlobInvalid, match="does not match"):
        import_layout(other, str(layout))
    assert other.images() == []
    assert layer not in {b.digest for b in other.content.walk()}


def test_bad_layouts(tmp_path: Path, store: ImageStore) -> None:
    with pytest.raises(ArchiveError, match="oci-layout is missing"):
        import_layout(store, str(tmp_path))
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / "index.json").write_text(
        '{"schemaVersion": 2, "manifests": [{"mediaType": 1, "size": 1, "digest": "sha256:'
        + 64 * "a"
        + '"}]}'
    )
    with pytest.raises(ArchiveError, match=r"manifests\[0\]\.mediaType"):
        import_layout(store, str(tmp_path))
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    with pytest.raises(ArchiveError, match="lists no images"):
        import_layout(store, str(tmp_path))


def test_export_refuses_non_empty_dir(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    make_image(L1, name="app")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    with pytest.raises(ArchiveError, match="not empty"):
        export_layout(store, ["app"], str(tmp_path / "x"))


def test_oci_archive_round_trip(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    make_image(L1, L2, name="app:1", compression="zstd")
    out = tmp_path / "app.tar"
    export_oci_archive(store, ["app:1"], str(out))
    assert detect_format(str(out)) == "oci-archive"
    other = fresh(tmp_path, "b")
    assert [i.name for i in import_path(other, str(out))] == ["docker.io/library/app:1"]
    assert blobs_of(other) == blobs_of(store)


def test_docker_archive_round_trip(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    d = make_image(L1, L2, name="example.com/app:1")
    out = tmp_path / "app.tar"
    export_docker_archive(store, ["example.com/app:1"], str(out))
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        repos = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["example.com/app:1"]
    assert len(manifest[0]["Layers"]) == 2
    assert list(repos) == ["example.com/app"]
    assert detect_format(str(out)) == "docker-archive"
    other = fresh(tmp_path, "b")
    (imported,) = import_path(other, str(out))
    assert imported.name == "example.com/app:1"
    a = load_image(store.content, d)
    b = load_image(other.content, imported.target)
    assert a.config.rootfs.diff_ids == b.config.rootfs.diff_ids
    assert b.manifest.layers[0].digest == a.config.rootfs.diff_ids[0]  # stored uncompressed


def _docker_tar(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))


def test_docker_archive_wrong_diff_id(tmp_path: Path, store: ImageStore) -> None:
    from ketch._common.digest import Digest

    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(Digest.from_bytes(b"not the layer"))]},
    }
    _docker_tar(
        tmp_path / "d.tar",
        {
            "manifest.json": json.dumps(
                [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]
            ).encode(),
            "c.json": json.dumps(config).encode(),
            "l/layer.tar": L1,
        },
    )
    with pytest.raises(BlobInvalid, match=r"Layers\[0\]: layer has DiffID"):
        import_path(store, str(tmp_path / "d.tar"))
    assert store.images() == []
    assert list(store.content.walk()) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"manifest.json": b"{"}, "not valid JSON"),
        ({"manifest.json": b"[]"}, "non-empty array"),
        ({"manifest.json": b'[{"Config": "c.json", "Layers": []}]'}, "no file 'c.json'"),
        (
            {"manifest.json": b'[{"Config": "c.json", "Layers": ["x"]}]', "c.json": b'{"os": "linux"}'},
            "rootfs: missing required member",
        ),
    ],
)
def test_docker_archive_malformed(
    tmp_path: Path, store: ImageStore, files: dict[str, bytes], message: str
) -> None:
    _docker_tar(tmp_path / "d.tar", files)
    with pytest.raises(ArchiveError, match=message):
        import_path(store, str(tmp_path / "d.tar"))
    assert store.images() == []


def test_not_an_archive(tmp_path: Path, store: ImageStore) -> None:
    (tmp_path / "x").write_bytes(b"hello")
    with pytest.raises(ArchiveError, match="not an image archive"):
        import_path(store, str(tmp_path / "x"))


def test_partial_multi_platform_layout(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    """An index naming two platforms with only one platform's content: that one imports, unpacks, survives gc."""
    from ketch.image.blobs import put_json
    from ketch.image.gc import collect
    from ketch.image.platform import host_platform
    from ketch.spec.image import MT_OCI_INDEX, MT_OCI_MANIFEST, Descriptor, Platform

    here = make_image(L1)
    absent = Descriptor(
        MT_OCI_MANIFEST, Digest.from_bytes(b"elsewhere"), 9, platform=Platform("s390x", "linux")
    )
    entry_here = Descriptor(here.media_type, here.digest, here.size, platform=host_platform())
    index = put_json(
        store.content,
        MT_OCI_INDEX,
        {
            "schemaVersion": 2,
            "mediaType": MT_OCI_INDEX,
            "manifests": [absent.to_json(), entry_here.to_json()],
        },
    )
    store.put("multi", index)
    export_layout(store, ["multi"], str(tmp_path / "layout"))
    other = fresh(tmp_path, "b")
    (imported,) = import_layout(other, str(tmp_path / "layout"))
    assert imported.target.digest == index.digest
    image = load_image(other.content, imported.target)
    assert image.manifest_descriptor.digest == here.digest
    before = blobs_of(other)
    assert collect(other).blobs == []
    assert blobs_of(other) == before


def _two_platform_index(store: ImageStore) -> tuple[Descriptor, Descriptor, Descriptor]:
    """(index, manifest for linux/amd64, manifest for linux/arm64/v8), with different layers each."""
    from ketch.image.blobs import put_json, put_layer
    from ketch.image.build import new_config, write_image
    from ketch.spec.image import MT_OCI_INDEX

    manifests = []
    for arch, variant, tar in (("amd64", None, L1), ("arm64", "v8", L2)):
        layer, diff_id = put_layer(store.content, io.BytesIO(tar))
        config = new_config([diff_id])
        config.architecture, config.variant = arch, variant
        manifests.append(write_image(store, config, [layer]))
    index = put_json(
        store.content,
        MT_OCI_INDEX,
        {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [m.to_json() for m in manifests]},
    )
    store.put("example.com/multi:v1", index)
    return index, manifests[0], manifests[1]


def test_import_one_platform_of_a_multi_platform_layout(store: ImageStore, tmp_path: Path) -> None:
    from ketch.image.errors import PlatformNotFound
    from ketch.image.gc import collect
    from ketch.image.platform import parse_platform

    index, amd64, arm64 = _two_platform_index(store)
    export_oci_archive(store, ["example.com/multi:v1"], str(tmp_path / "multi.tar"))
    arm = parse_platform("linux/arm64/v8")
    other = fresh(tmp_path, "one")
    (imported,) = import_path(other, str(tmp_path / "multi.tar"), platform=arm)
    assert imported.target.digest == index.digest  # the image keeps its identity
    assert other.content.has(arm64.digest) and not other.content.has(amd64.digest)
    image = load_image(other.content, imported.target, arm)
    assert image.manifest_descriptor.digest == arm64.digest
    amd_layers = load_image(store.content, amd64).manifest.layers
    assert not any(other.content.has(layer.digest) for layer in amd_layers)
    before = blobs_of(other)
    assert collect(other).blobs == [] and blobs_of(other) == before
    # a platform the index does not have: an error listing those it has, and nothing stored
    none = fresh(tmp_path, "none")
    with pytest.raises(PlatformNotFound, match="available: linux/amd64, linux/arm64/v8"):
        import_path(none, str(tmp_path / "multi.tar"), platform=parse_platform("linux/s390x"))
    assert none.images() == []
    # without --platform everything comes in
    full = fresh(tmp_path, "full")
    import_path(full, str(tmp_path / "multi.tar"))
    assert full.content.has(amd64.digest) and full.content.has(arm64.digest)


def test_cli_import_platform(store: ImageStore, tmp_path: Path) -> None:
    from ketch.cli.main import main

    _index, amd64, arm64 = _two_platform_index(store)
    export_layout(store, ["example.com/multi:v1"], str(tmp_path / "layout"))
    root = tmp_path / "cli-root"
    assert (
        main(["--root", str(root), "image", "import", str(tmp_path / "layout"), "--platform", "linux/amd64"])
        == 0
    )
    other = ImageStore(str(root))
    assert other.content.has(amd64.digest) and not other.content.has(arm64.digest)
