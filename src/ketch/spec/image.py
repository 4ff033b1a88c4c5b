"""Data models of the OCI image-spec (v1.1): descriptors, manifests, indexes, image configs, oci-layout.

Docker's schema2 manifest and manifest list have the same shape as the OCI manifest and index and parse into
the same classes (image-spec media-types.md "Compatibility Matrix"); ``media_type`` tells them apart.

Parsing never drops what it does not know: every model keeps unrecognised members in ``extra`` and writes
them back in :meth:`to_json`, so a manifest from a newer producer survives a round trip through ketch.
Validation errors are :class:`ImageSpecError` naming the JSON path of the bad member
(``manifests[1].digest: ...``). No I/O happens here.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ketch._common.digest import Digest, InvalidDigest
from ketch._common.model import field, model

__all__ = [
    "ANNOTATION_BASE_DIGEST",
    "ANNOTATION_BASE_NAME",
    "ANNOTATION_CREATED",
    "ANNOTATION_REF_NAME",
    "ANNOTATION_TITLE",
    "CONFIG_MEDIA_TYPES",
    "IMAGE_LAYOUT_VERSION",
    "INDEX_MEDIA_TYPES",
    "LAYER_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "MT_DOCKER_CONFIG",
    "MT_DOCKER_LAYER",
    "MT_DOCKER_LAYER_FOREIGN",
    "MT_DOCKER_MANIFEST",
    "MT_DOCKER_MANIFEST_LIST",
    "MT_OCI_CONFIG",
    "MT_OCI_DESCRIPTOR",
    "MT_OCI_EMPTY",
    "MT_OCI_INDEX",
    "MT_OCI_LAYER",
    "MT_OCI_LAYER_GZIP",
    "MT_OCI_LAYER_NONDIST",
    "MT_OCI_LAYER_NONDIST_GZIP",
    "MT_OCI_LAYER_NONDIST_ZSTD",
    "MT_OCI_LAYER_ZSTD",
    "MT_OCI_LAYOUT_HEADER",
    "MT_OCI_MANIFEST",
    "ContainerConfig",
    "Descriptor",
    "History",
    "ImageConfig",
    "ImageSpecError",
    "Index",
    "Manifest",
    "OciLayout",
    "Platform",
    "RootFS",
    "layer_compression",
    "parse_json",
]

MT_OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
MT_OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_EMPTY = "application/vnd.oci.empty.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated by image-spec 1.1 but still to be consumed (media-types.md).
MT_OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MT_OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_MEDIA_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
INDEX_MEDIA_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_MANIFEST_LIST})
CONFIG_MEDIA_TYPES = frozenset({MT_OCI_CONFIG, MT_DOCKER_CONFIG})
# layer media type -> compression ("" for a plain tar)
LAYER_MEDIA_TYPES: dict[str, str] = {
    MT_OCI_LAYER: "",
    MT_OCI_LAYER_GZIP: "gzip",
    MT_OCI_LAYER_ZSTD: "zstd",
    MT_OCI_LAYER_NONDIST: "",
    MT_OCI_LAYER_NONDIST_GZIP: "gzip",
    MT_OCI_LAYER_NONDIST_ZSTD: "zstd",
    MT_DOCKER_LAYER: "gzip",
    MT_DOCKER_LAYER_FOREIGN: "gzip",
    # Docker's own "tar" layers in docker-archive exports have this type in some tools.
    "application/vnd.docker.image.rootfs.diff.tar": "",
}

# annotations.md "Pre-Defined Annotation Keys"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_BASE_DIGEST = "org.opencontainers.image.base.digest"
ANNOTATION_BASE_NAME = "org.opencontainers.image.base.name"

IMAGE_LAYOUT_VERSION = "1.0.0"


class ImageSpecError(ValueError):
    """A document does not follow the image-spec; ``path`` is the JSON path of the offending member."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


def layer_compression(media_type: str) -> str:
    """The compression of a layer media type (``""``, ``"gzip"``, ``"zstd"``); unknown types are an error."""
    try:
        return LAYER_MEDIA_TYPES[media_type]
    except KeyError:
        raise ImageSpecError("mediaType", f"unsupported layer media type {media_type!r}") from None


# ---------------------------------------------------------------------------------------------------------
# field readers: each takes the object, the key and the path of the object, and names the member on error


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImageSpecError(path, f"expected an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "an object"
    )


def _str(o: dict[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    if key not in o:
        if required:
            raise ImageSpecError(_join(path, key), "missing required member")
        return None
    v = o[key]
    if not isinstance(v, str):
        raise ImageSpecError(_join(path, key), f"expected a string, got {_kind(v)}")
    return v


def _int(o: dict[str, Any], key: str, path: str, *, required: bool = False) -> int | None:
    if key not in o:
        if required:
            raise ImageSpecError(_join(path, key), "missing required member")
        return None
    v = o[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ImageSpecError(_join(path, key), f"expected an integer, got {_kind(v)}")
    return v


def _bool(o: dict[str, Any], key: str, path: str) -> bool | None:
    if key not in o:
        return None
    v = o[key]
    if not isinstance(v, bool):
        raise ImageSpecError(_join(path, key), f"expected a boolean, got {_kind(v)}")
    return v


def _strlist(o: dict[str, Any], key: str, path: str) -> list[str] | None:
    if key not in o or o[key] is None:
        # Docker writes `"Cmd": null`; null and absent mean the same.
        return None
    v = o[key]
    p = _join(path, key)
    if not isinstance(v, list):
        raise ImageSpecError(p, f"expected an array of strings, got {_kind(v)}")
    for i, item in enumerate(v):
        if not isinstance(item, str):
            raise ImageSpecError(f"{p}[{i}]", f"expected a string, got {_kind(item)}")
    return list(v)


def _strmap(o: dict[str, Any], key: str, path: str) -> dict[str, str] | None:
    if key not in o or o[key] is None:
        return None
    p = _join(path, key)
    v = _obj(o[key], p)
    for k, item in v.items():
        if not isinstance(item, str):
            raise ImageSpecError(f"{p}.{k}", f"expected a string, got {_kind(item)}")
    return dict(v)


def _emptyset(o: dict[str, Any], key: str, path: str) -> dict[str, dict[str, Any]] | None:
    """config.md's ``ExposedPorts``/``Volumes``: an object whose values are empty objects."""
    if key not in o or o[key] is None:
        return None
    p = _join(path, key)
    v = _obj(o[key], p)
    for k, item in v.items():
        _obj(item, f"{p}.{k}")
    return {k: dict(item) for k, item in v.items()}


def _digest(o: dict[str, Any], key: str, path: str, *, required: bool = False) -> Digest | None:
    s = _str(o, key, path, required=required)
    if s is None:
        return None
    try:
        return Digest(s)
    except InvalidDigest as e:
        raise ImageSpecError(_join(path, key), str(e)) from None


def _media_type(o: dict[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    s = _str(o, key, path, required=required)
    # RFC 6838 type/subtype, as descriptor.md requires for mediaType and artifactType.
    if s is not None and not _valid_media_type(s):
        raise ImageSpecError(_join(path, key), f"invalid media type {s!r}: expected type/subtype")
    return s


_MT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&-^_.+")


def _valid_media_type(s: str) -> bool:
    main, sep, sub = s.partition("/")
    if not sep:
        return False
    sub = sub.split(";", 1)[0]
    return all(0 < len(part) <= 127 and set(part) <= _MT_CHARS for part in (main, sub))


def _extra(o: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in o.items() if k not in known}


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _members_json(obj: Any, members: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The JSON object of a model whose members map one to one onto attributes (None: left out), then
    the unknown members it kept in ``extra``."""
    out: dict[str, Any] = {}
    for member, attribute in members:
        _put(out, member, getattr(obj, attribute))
    out.update(obj.extra)
    return out


def parse_json(data: bytes | str, what: str) -> dict[str, Any]:
    """Decode a JSON document that must be an object; ``what`` names it in the error."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageSpecError("", f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ImageSpecError("", f"{what} must be a JSON object, got {_kind(value)}")
    return value


# ---------------------------------------------------------------------------------------------------------


@model
class Platform:
    """image-index.md ``platform``; also the platform members of an image config."""

    architecture: str
    os: str
    os_version: str | None = None
    os_features: list[str] | None = None
    variant: str | None = None
    features: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("architecture", "os", "os.version", "os.features", "variant", "features")

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> Platform:
        o = _obj(value, path)
        return cls(
            architecture=_str(o, "architecture", path, required=True) or "",
            os=_str(o, "os", path, required=True) or "",
            os_version=_str(o, "os.version", path),
            os_features=_strlist(o, "os.features", path),
            variant=_str(o, "variant", path),
            features=_strlist(o, "features", path),
            extra=_extra(o, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        _put(out, "os.version", self.os_version)
        _put(out, "os.features", self.os_features)
        _put(out, "variant", self.variant)
        _put(out, "features", self.features)
        out.update(self.extra)
        return out

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        if self.variant:
            s += f"/{self.variant}"
        if self.os_version:
            s += f" ({self.os_version})"
        return s


@model
class Descriptor:
    """descriptor.md: a typed, sized, content-addressed reference to a blob."""

    media_type: str
    digest: Digest
    size: int
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    data: bytes | None = None
    artifact_type: str | None = None
    platform: Platform | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("mediaType", "digest", "size", "urls", "annotations", "data", "artifactType", "platform")

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> Descriptor:
        o = _obj(value, path)
        digest = _digest(o, "digest", path, required=True)
        assert digest is not None
        size = _int(o, "size", path, required=True)
        assert size is not None
        if size < 0:
            raise ImageSpecError(_join(path, "size"), f"size must not be negative, got {size}")
        data: bytes | None = None
        encoded = _str(o, "data", path)
        if encoded is not None:
            try:
                data = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ImageSpecError(_join(path, "data"), "is not valid base64") from None
            # descriptor.md "Embedded Content": the decoded data must be the referenced content.
            if len(data) != size or Digest.from_bytes(data, digest.algorithm) != digest:
                raise ImageSpecError(
                    _join(path, "data"), f"embedded data does not match {digest} ({size} bytes)"
                )
        platform = Platform.from_json(o["platform"], _join(path, "platform")) if "platform" in o else None
        return cls(
            media_type=_media_type(o, "mediaType", path, required=True) or "",
            digest=digest,
            size=size,
            urls=_strlist(o, "urls", path),
            annotations=_strmap(o, "annotations", path),
            data=data,
            artifact_type=_media_type(o, "artifactType", path),
            platform=platform,
            extra=_extra(o, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        _put(out, "urls", self.urls)
        _put(out, "annotations", self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        _put(out, "artifactType", self.artifact_type)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        out.update(self.extra)
        return out

    @classmethod
    def for_bytes(cls, media_type: str, data: bytes, **kwargs: Any) -> Descriptor:
        """The descriptor of ``data`` (sha256)."""
        return cls(media_type=media_type, digest=Digest.from_bytes(data), size=len(data), **kwargs)


def _descriptors(o: dict[str, Any], key: str, path: str, *, required: bool) -> list[Descriptor]:
    p = _join(path, key)
    if key not in o:
        if required:
            raise ImageSpecError(p, "missing required member")
        return []
    v = o[key]
    if not isinstance(v, list):
        raise ImageSpecError(p, f"expected an array of descriptors, got {_kind(v)}")
    return [Descriptor.from_json(item, f"{p}[{i}]") for i, item in enumerate(v)]


def _schema_version(o: dict[str, Any], path: str) -> None:
    v = _int(o, "schemaVersion", path, required=True)
    if v != 2:
        raise ImageSpecError(_join(path, "schemaVersion"), f"must be 2, got {v}")


def _check_media_type(o: dict[str, Any], path: str, allowed: frozenset[str], what: str) -> str | None:
    mt = _media_type(o, "mediaType", path)
    if mt is not None and mt not in allowed:
        raise ImageSpecError(_join(path, "mediaType"), f"{mt!r} is not an {what} media type")
    return mt


@model
class Manifest:
    """manifest.md (and Docker's schema2 manifest): a config and an ordered list of layers."""

    config: Descriptor
    layers: list[Descriptor]
    media_type: str | None = MT_OCI_MANIFEST
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations")

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> Manifest:
        o = _obj(value, path)
        _schema_version(o, path)
        mt = _check_media_type(o, path, MANIFEST_MEDIA_TYPES, "image manifest")
        if "config" not in o:
            raise ImageSpecError(_join(path, "config"), "missing required member")
        config = Descriptor.from_json(o["config"], _join(path, "config"))
        artifact_type = _media_type(o, "artifactType", path)
        # manifest.md: artifactType MUST be set when config.mediaType is the empty descriptor's type.
        if config.media_type == MT_OCI_EMPTY and artifact_type is None:
            raise ImageSpecError(
                _join(path, "artifactType"), f"required when config.mediaType is {MT_OCI_EMPTY!r}"
            )
        subject = Descriptor.from_json(o["subject"], _join(path, "subject")) if "subject" in o else None
        return cls(
            config=config,
            layers=_descriptors(o, "layers", path, required=True),
            media_type=mt,
            artifact_type=artifact_type,
            subject=subject,
            annotations=_strmap(o, "annotations", path),
            extra=_extra(o, cls._KNOWN),
        )

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        return cls.from_json(parse_json(data, "image manifest"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2}
        _put(out, "mediaType", self.media_type)
        _put(out, "artifactType", self.artifact_type)
        out["config"] = self.config.to_json()
        out["layers"] = [d.to_json() for d in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        _put(out, "annotations", self.annotations)
        out.update(self.extra)
        return out


@model
class Index:
    """image-index.md (and Docker's manifest list): manifests for several platforms, or other indexes."""

    manifests: list[Descriptor]
    media_type: str | None = MT_OCI_INDEX
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations")

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> Index:
        o = _obj(value, path)
        _schema_version(o, path)
        mt = _check_media_type(o, path, INDEX_MEDIA_TYPES, "image index")
        subject = Descriptor.from_json(o["subject"], _join(path, "subject")) if "subject" in o else None
        return cls(
            manifests=_descriptors(o, "manifests", path, required=True),
            media_type=mt,
            artifact_type=_media_type(o, "artifactType", path),
            subject=subject,
            annotations=_strmap(o, "annotations", path),
            extra=_extra(o, cls._KNOWN),
        )

    @classmethod
    def parse(cls, data: bytes) -> Index:
        return cls.from_json(parse_json(data, "image index"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2}
        _put(out, "mediaType", self.media_type)
        _put(out, "artifactType", self.artifact_type)
        out["manifests"] = [d.to_json() for d in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        _put(out, "annotations", self.annotations)
        out.update(self.extra)
        return out


@model
class ContainerConfig:
    """config.md ``config``: the execution parameters a runtime should use by default."""

    user: str | None = None
    exposed_ports: dict[str, dict[str, Any]] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: dict[str, dict[str, Any]] | None = None
    working_dir: str | None = None
    labels: dict[str, str] | None = None
    stop_signal: str | None = None
    args_escaped: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # JSON member -> attribute, in the order config.md lists them (to_json writes them in this order)
    _MEMBERS = (
        ("User", "user"),
        ("ExposedPorts", "exposed_ports"),
        ("Env", "env"),
        ("Entrypoint", "entrypoint"),
        ("Cmd", "cmd"),
        ("Volumes", "volumes"),
        ("WorkingDir", "working_dir"),
        ("Labels", "labels"),
        ("StopSignal", "stop_signal"),
        ("ArgsEscaped", "args_escaped"),
    )
    _KNOWN = tuple(member for member, _ in _MEMBERS)

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> ContainerConfig:
        o = _obj(value, path)
        env = _strlist(o, "Env", path)
        for i, item in enumerate(env or []):
            if "=" not in item:
                raise ImageSpecError(f"{_join(path, 'Env')}[{i}]", f"{item!r} is not VARNAME=VARVALUE")
        return cls(
            user=_str(o, "User", path),
            exposed_ports=_emptyset(o, "ExposedPorts", path),
            env=env,
            entrypoint=_strlist(o, "Entrypoint", path),
            cmd=_strlist(o, "Cmd", path),
            volumes=_emptyset(o, "Volumes", path),
            working_dir=_str(o, "WorkingDir", path),
            labels=_strmap(o, "Labels", path),
            stop_signal=_str(o, "StopSignal", path),
            args_escaped=_bool(o, "ArgsEscaped", path),
            extra=_extra(o, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        return _members_json(self, self._MEMBERS)


@model
class RootFS:
    """config.md ``rootfs``: the uncompressed digests (DiffIDs) of the layers, in order."""

    diff_ids: list[Digest]
    type: str = "layers"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> RootFS:
        o = _obj(value, path)
        kind = _str(o, "type", path, required=True)
        if kind != "layers":
            raise ImageSpecError(_join(path, "type"), f"must be 'layers', got {kind!r}")
        raw = _strlist(o, "diff_ids", path)
        if raw is None:
            raise ImageSpecError(_join(path, "diff_ids"), "missing required member")
        ids: list[Digest] = []
        for i, s in enumerate(raw):
            try:
                ids.append(Digest(s))
            except InvalidDigest as e:
                raise ImageSpecError(f"{_join(path, 'diff_ids')}[{i}]", str(e)) from None
        return cls(diff_ids=ids, extra=_extra(o, ("type", "diff_ids")))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "diff_ids": [str(d) for d in self.diff_ids]}
        out.update(self.extra)
        return out


@model
class History:
    """config.md ``history``: one step of how the image was built."""

    created: str | None = None
    author: str | None = None
    created_by: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _MEMBERS = (
        ("created", "created"),
        ("author", "author"),
        ("created_by", "created_by"),
        ("comment", "comment"),
        ("empty_layer", "empty_layer"),
    )
    _KNOWN = tuple(member for member, _ in _MEMBERS)

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> History:
        o = _obj(value, path)
        return cls(
            created=_str(o, "created", path),
            author=_str(o, "author", path),
            created_by=_str(o, "created_by", path),
            comment=_str(o, "comment", path),
            empty_layer=_bool(o, "empty_layer", path),
            extra=_extra(o, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        return _members_json(self, self._MEMBERS)


@model
class ImageConfig:
    """config.md: the image's platform, default execution parameters, layer DiffIDs and history."""

    architecture: str
    os: str
    rootfs: RootFS
    created: str | None = None
    author: str | None = None
    os_version: str | None = None
    os_features: list[str] | None = None
    variant: str | None = None
    config: ContainerConfig | None = None
    history: list[History] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = (
        "created",
        "author",
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
        "config",
        "rootfs",
        "history",
    )

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> ImageConfig:
        o = _obj(value, path)
        if "rootfs" not in o:
            raise ImageSpecError(_join(path, "rootfs"), "missing required member")
        history: list[History] | None = None
        if o.get("history") is not None:
            hp = _join(path, "history")
            if not isinstance(o["history"], list):
                raise ImageSpecError(hp, f"expected an array, got {_kind(o['history'])}")
            history = [History.from_json(h, f"{hp}[{i}]") for i, h in enumerate(o["history"])]
        config = None
        if o.get("config") is not None:
            config = ContainerConfig.from_json(o["config"], _join(path, "config"))
        return cls(
            architecture=_str(o, "architecture", path, required=True) or "",
            os=_str(o, "os", path, required=True) or "",
            rootfs=RootFS.from_json(o["rootfs"], _join(path, "rootfs")),
            created=_str(o, "created", path),
            author=_str(o, "author", path),
            os_version=_str(o, "os.version", path),
            os_features=_strlist(o, "os.features", path),
            variant=_str(o, "variant", path),
            config=config,
            history=history,
            extra=_extra(o, cls._KNOWN),
        )

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        return cls.from_json(parse_json(data, "image config"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _put(out, "created", self.created)
        _put(out, "author", self.author)
        out["architecture"] = self.architecture
        out["os"] = self.os
        _put(out, "os.version", self.os_version)
        _put(out, "os.features", self.os_features)
        _put(out, "variant", self.variant)
        if self.config is not None:
            out["config"] = self.config.to_json()
        out["rootfs"] = self.rootfs.to_json()
        if self.history is not None:
            out["history"] = [h.to_json() for h in self.history]
        out.update(self.extra)
        return out

    def platform(self) -> Platform:
        return Platform(
            architecture=self.architecture,
            os=self.os,
            os_version=self.os_version,
            os_features=self.os_features,
            variant=self.variant,
        )


@model
class OciLayout:
    """image-layout.md ``oci-layout``: the layout version marker."""

    image_layout_version: str = IMAGE_LAYOUT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any, path: str = "") -> OciLayout:
        o = _obj(value, path)
        version = _str(o, "imageLayoutVersion", path, required=True) or ""
        if version.split(".")[0] != "1":
            raise ImageSpecError(_join(path, "imageLayoutVersion"), f"unsupported layout version {version!r}")
        return cls(image_layout_version=version, extra=_extra(o, ("imageLayoutVersion",)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"imageLayoutVersion": self.image_layout_version}
        out.update(self.extra)
        return out
