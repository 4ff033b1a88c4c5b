"""The image-spec models: parse, keep unknown members, name the bad member's path."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ketch._common.digest import Digest
from ketch.spec.image import (
    MT_DOCKER_MANIFEST,
    MT_DOCKER_MANIFEST_LIST,
    MT_OCI_CONFIG,
    MT_OCI_EMPTY,
    MT_OCI_INDEX,
    MT_OCI_LAYER_GZIP,
    MT_OCI_MANIFEST,
    Descriptor,
    ImageConfig,
    ImageSpecError,
    Index,
    Manifest,
    OciLayout,
    layer_compression,
)

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D3 = "sha512:" + "c" * 128


def desc(mt: str = MT_OCI_LAYER_GZIP, digest: str = D1, size: int = 10, **kw: Any) -> dict[str, Any]:
    return {"mediaType": mt, "digest": digest, "size": size, **kw}


def manifest_doc(**kw: Any) -> dict[str, Any]:
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": desc(MT_OCI_CONFIG, D2, 5),
        "layers": [desc(), desc(digest=D3)],
    }
    doc.update(kw)
    return doc


def test_manifest_round_trip_keeps_unknown_members() -> None:
    doc = manifest_doc(
        annotations={"a": "b"},
        futureField={"x": [1, 2]},
        subject=desc(MT_OCI_MANIFEST, D2, 7),
    )
    doc["layers"][0]["newThing"] = True
    doc["config"]["platform"] = {"os": "linux", "architecture": "amd64", "os.future": "y"}
    m = Manifest.parse(json.dumps(doc).encode())
    assert m.layers[1].digest == Digest(D3)
    assert m.subject is not None and m.subject.size == 7
    assert m.to_json() == doc


def test_docker_schema2_manifest_and_list_parse() -> None:
    m = Manifest.from_json(manifest_doc(mediaType=MT_DOCKER_MANIFEST))
    assert m.media_type == MT_DOCKER_MANIFEST
    i = Index.from_json(
        {
            "schemaVersion": 2,
            "mediaType": MT_DOCKER_MANIFEST_LIST,
            "manifests": [
                desc(MT_DOCKER_MANIFEST, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})
            ],
        }
    )
    assert i.manifests[0].platform is not None and str(i.manifests[0].platform) == "linux/arm64/v8"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["layers"][1].update(digest="sha256:zz"), "layers[1].digest"),
        (lambda d: d["layers"][0].update(size=-1), "layers[0].size"),
        (lambda d: d["layers"][0].update(size="10"), "layers[0].size"),
        (lambda d: d["layers"][0].pop("mediaType"), "layers[0].mediaType"),
        (lambda d: d["layers"][0].update(mediaType="nonsense"), "layers[0].mediaType"),
        (lambda d: d["config"].update(annotations={"k": 1}), "config.annotations.k"),
        (lambda d: d.update(schemaVersion=1), "schemaVersion"),
        (lambda d: d.pop("config"), "config"),
        (lambda d: d.update(layers={}), "layers"),
        (lambda d: d.update(mediaType=MT_OCI_INDEX), "mediaType"),
        (lambda d: d["layers"][0].update(urls=["x", 3]), "layers[0].urls[1]"),
        (lambda d: d["layers"][0].update(data="!!"), "layers[0].data"),
    ],
)
def test_manifest_errors_name_the_path(mutate: Any, path: str) -> None:
    doc = manifest_doc()
    mutate(doc)
    with pytest.raises(ImageSpecError) as e:
        Manifest.from_json(doc)
    assert e.value.path == path
    assert str(e.value).startswith(path + ": ")


def test_index_error_path() -> None:
    doc = {"schemaVersion": 2, "manifests": [desc(MT_OCI_MANIFEST), desc(MT_OCI_MANIFEST, digest="md5:00")]}
    with pytest.raises(ImageSpecError, match=r"^manifests\[1\]\.digest: "):
        Index.from_json(doc)


def test_embedded_data_is_checked_against_digest() -> None:
    data = b"{}"
    good = Descriptor.for_bytes(MT_OCI_EMPTY, data)
    good.data = data
    assert Descriptor.from_json(good.to_json()).data == data
    bad = good.to_json()
    bad["data"] = base64.b64encode(b"[]").decode()
    with pytest.raises(ImageSpecError, match="data: embedded data does not match"):
        Descriptor.from_json(bad)


def test_artifact_manifest_needs_artifact_type() -> None:
    doc = manifest_doc(config=desc(MT_OCI_EMPTY, D2, 2))
    with pytest.raises(ImageSpecError, match=r"^artifactType: "):
        Manifest.from_json(doc)
    doc["artifactType"] = "application/vnd.example.sbom"
    assert Manifest.from_json(doc).artifact_type == "application/vnd.example.sbom"


def test_image_config_round_trip_and_docker_nulls() -> None:
    doc = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "1000:1000",
            "Env": ["PATH=/bin"],
            "Entrypoint": ["/bin/sh"],
            "Cmd": ["-c", "true"],
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/data": {}},
            "Labels": {"l": "v"},
            "StopSignal": "SIGTERM",
            "Healthcheck": {"Test": ["NONE"]},
        },
        "rootfs": {"type": "layers", "diff_ids": [D1]},
        "history": [{"created_by": "x", "empty_layer": True, "extra": 1}],
        "container": "abc",
    }
    c = ImageConfig.parse(json.dumps(doc).encode())
    assert c.config is not None and c.config.extra == {"Healthcheck": {"Test": ["NONE"]}}
    assert c.to_json() == doc
    doc["config"]["Cmd"] = None
    assert ImageConfig.from_json(doc).config.cmd is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("architecture"), "architecture"),
        (lambda d: d["rootfs"].update(type="dirs"), "rootfs.type"),
        (lambda d: d["rootfs"].update(diff_ids=["sha256:x"]), "rootfs.diff_ids[0]"),
        (lambda d: d.update(config={"Env": ["NOEQUALS"]}), "config.Env[0]"),
        (lambda d: d.update(config={"ExposedPorts": {"80/tcp": 1}}), "config.ExposedPorts.80/tcp"),
        (lambda d: d.update(history=[{}, {"empty_layer": "yes"}]), "history[1].empty_layer"),
    ],
)
def test_config_errors_name_the_path(mutate: Any, path: str) -> None:
    doc: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    mutate(doc)
    with pytest.raises(ImageSpecError) as e:
        ImageConfig.from_json(doc)
    assert e.value.path == path


def test_not_json_and_not_object() -> None:
    with pytest.raises(ImageSpecError, match="not valid JSON"):
        Manifest.parse(b"{")
    with pytest.raises(ImageSpecError, match="must be a JSON object"):
        Index.parse(b"[]")


def test_oci_layout_and_layer_types() -> None:
    assert OciLayout.from_json({"imageLayoutVersion": "1.0.0"}).to_json() == {"imageLayoutVersion": "1.0.0"}
    with pytest.raises(ImageSpecError, match="imageLayoutVersion"):
        OciLayout.from_json({"imageLayoutVersion": "2.0.0"})
    assert layer_compression(MT_OCI_LAYER_GZIP) == "gzip"
    with pytest.raises(ImageSpecError, match="unsupported layer media type"):
        layer_compression("application/x-foo")
