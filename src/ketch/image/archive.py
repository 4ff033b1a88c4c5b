"""Image archives: oci-archive (a tar of an OCI layout) and docker-archive (``docker save``'s format).

docker-archive follows moby's image/spec/v1.2.md: ``manifest.json`` lists, per image, its config file, its
``RepoTags`` and its layer tars (uncompressed, in order); ``repositories`` maps names to the top layer id.
Archives are read with random access and their entries are never written to disk by name: blobs go
straight into the content store, verified against their digests. Exports are written to a temporary file
beside the target and renamed into place.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import tempfile
from typing import Any, BinaryIO

from ketch._common.digest import Digest
from ketch._common.jsonio import dumps_compact
from ketch.image.blobs import put_json, read_verified
from ketch.image.content.local import write_blob
from ketch.image.content.protocol import BlobInfo
from ketch.image.errors import ArchiveError, BlobInvalid, BlobNotFound
from ketch.image.layer.compression import HashingReader, decompressor
from ketch.image.layout import ImportedImage, export_layout, import_index
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.spec.image import (
    LAYER_MEDIA_TYPES,
    MT_OCI_CONFIG,
    MT_OCI_LAYER,
    MT_OCI_LAYER_GZIP,
    MT_OCI_LAYER_ZSTD,
    MT_OCI_MANIFEST,
    Descriptor,
    ImageConfig,
    ImageSpecError,
    Index,
    Manifest,
    OciLayout,
    Platform,
    parse_json,
)
from ketch.spec.reference import InvalidReference, parse_reference

__all__ = ["detect_format", "export_docker_archive", "export_oci_archive", "import_archive", "import_path"]

_MAX_JSON = 16 << 20


def _norm(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


class _TarSource:
    """A read-only content source over ``blobs/<alg>/<hex>`` members of an open tar."""

    def __init__(self, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> None:
        self._tar = tar
        self._members = members

    def _member(self, digest: Digest) -> tarfile.TarInfo:
        m = self._members.get(f"blobs/{digest.algorithm}/{digest.hex}")
        if m is None or not m.isreg():
            raise BlobNotFound(f"blob {digest} is not in the archive")
        return m

    def info(self, digest: Digest) -> BlobInfo:
        return BlobInfo(digest, self._member(digest).size)

    def open(self, digest: Digest) -> BinaryIO:
        f = self._tar.extractfile(self._member(digest))
        assert f is not None
        return f  # type: ignore[return-value]

    def writer(self, ref: str, expected: Digest, size: int | None = None) -> Any:
        raise ArchiveError("archives are read-only")

    def delete(self, digest: Digest) -> None:
        raise ArchiveError("archives are read-only")

    def walk(self) -> Any:
        return iter(())


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    out: dict[str, tarfile.TarInfo] = {}
    for m in tar.getmembers():
        out[_norm(m.name)] = m
    return out


def _read_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, path: str) -> bytes:
    m = members.get(_norm(name))
    if m is None or not m.isreg():
        raise ArchiveError(f"{path}: archive has no file {name!r}")
    if m.size > _MAX_JSON:
        raise ArchiveError(f"{path}: {name!r} is too large ({m.size} bytes)")
    f = tar.extractfile(m)
    assert f is not None
    return f.read()


def detect_format(path: str) -> str:
    """``oci`` (a layout directory), ``oci-archive`` or ``docker-archive`` (tars), or ``dir`` (a rootfs)."""
    if os.path.isdir(path):
        return "oci" if os.path.exists(os.path.join(path, "oci-layout")) else "dir"
    try:
        with tarfile.open(path, "r:*") as tar:
            names = {_norm(m.name) for m in tar.getmembers()}
    except (tarfile.TarError, OSError) as e:
        raise ArchiveError(f"{path} is not an image archive: {e}") from None
    if "manifest.json" in names and "oci-layout" not in names:
        return "docker-archive"
    if "oci-layout" in names and "index.json" in names:
        return "oci-archive"
    if "manifest.json" in names:
        return "docker-archive"
    raise ArchiveError(f"{path} is neither an oci-archive (no oci-layout/index.json) nor a docker-archive")


def import_path(
    store: ImageStore, path: str, name: str | None = None, platform: Platform | None = None
) -> list[ImportedImage]:
    """Import whatever ``path`` is: OCI layout directory, oci-archive or docker-archive.

    ``platform``: of multi-platform images in a layout or oci-archive, that platform's content only (see
    ``layout.copy_image``); a docker-archive holds one platform per image and is imported as it is.
    """
    from ketch.image.layout import import_layout

    kind = detect_format(path)
    if kind == "oci":
        return import_layout(store, path, name, platform)
    if kind == "dir":
        raise ArchiveError(
            f"{path} is a directory without an oci-layout file (use --rootfs to import a tree)"
        )
    return import_archive(store, path, name, kind, platform)


def import_archive(
    store: ImageStore,
    path: str,
    name: str | None = None,
    kind: str | None = None,
    platform: Platform | None = None,
) -> list[ImportedImage]:
    kind = kind or detect_format(path)
    try:
        with tarfile.open(path, "r:*") as tar:
            members = _members(tar)
            if kind == "oci-archive":
                try:
                    OciLayout.from_json(
                        parse_json(_read_member(tar, members, "oci-layout", path), "oci-layout")
                    )
                    index = Index.from_json(
                        parse_json(_read_member(tar, members, "index.json", path), "index.json")
                    )
                except ImageSpecError as e:
                    raise ArchiveError(f"{path}: {e}") from None
                return import_index(store, index, _TarSource(tar, members), name, path, platform)
            with store.lease():
                return _import_docker(store, tar, members, path, name)
    except tarfile.TarError as e:
        raise ArchiveError(f"{path}: broken archive: {e}") from None


def _layer_type(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return MT_OCI_LAYER_GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return MT_OCI_LAYER_ZSTD
    return MT_OCI_LAYER


def _import_docker(
    store: ImageStore, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], path: str, name: str | None
) -> list[ImportedImage]:
    try:
        entries = json.loads(_read_member(tar, members, "manifest.json", path))
    except ValueError as e:
        raise ArchiveError(f"{path}: manifest.json is not valid JSON: {e}") from None
    if not isinstance(entries, list) or not entries:
        raise ArchiveError(f"{path}: manifest.json must be a non-empty array")
    imported = []
    for i, entry in enumerate(entries):
        where = f"{path}: manifest.json[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ArchiveError(f"{where}.Config: missing")
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ArchiveError(f"{where}.Layers: expected an array of paths")
        raw_config = _read_member(tar, members, entry["Config"], path)
        try:
            config = ImageConfig.parse(raw_config)
        except ImageSpecError as e:
            raise ArchiveError(f"{where}: config {entry['Config']}: {e}") from None
        if len(layers) != len(config.rootfs.diff_ids):
            raise ArchiveError(
                f"{where}: {len(layers)} layers but the config lists {len(config.rootfs.diff_ids)}"
            )
        layer_descs = []
        for j, (lpath, diff_id) in enumerate(zip(layers, config.rootfs.diff_ids, strict=True)):
            m = members.get(_norm(lpath))
            if m is None or not m.isreg():
                raise ArchiveError(f"{where}.Layers[{j}]: archive has no file {lpath!r}")
            layer_descs.append(_import_docker_layer(store, tar, m, diff_id, f"{where}.Layers[{j}]"))
        config_desc = Descriptor.for_bytes(MT_OCI_CONFIG, raw_config)
        write_blob(store.content, raw_config, config_desc.digest, config_desc.size)
        manifest = Manifest(config=config_desc, layers=layer_descs, media_type=MT_OCI_MANIFEST)
        target = put_json(store.content, MT_OCI_MANIFEST, manifest.to_json(), platform=config.platform())
        tags = entry.get("RepoTags") or []
        names = [name] if name else [t for t in tags if isinstance(t, str)]
        first = None
        for n in names:
            try:
                store.put(n, target)
                first = first or str(parse_reference(n))
            except InvalidReference as e:
                raise ArchiveError(f"{where}.RepoTags: {e}") from None
        imported.append(ImportedImage(first, target, len(layer_descs) + 2))
    return imported


def _import_docker_layer(
    store: ImageStore, tar: tarfile.TarFile, m: tarfile.TarInfo, diff_id: Digest, where: str
) -> Descriptor:
    f = tar.extractfile(m)
    assert f is not None
    head = f.read(4)
    f.seek(0)
    media_type = _layer_type(head)
    # One pass for the blob digest, one for the DiffID check (the layer tar may be compressed).
    h = HashingReader(f)  # type: ignore[arg-type]
    h.drain()
    digest = h.digest
    f.seek(0)
    plain = HashingReader(decompressor(f, LAYER_MEDIA_TYPES[media_type], where), diff_id.algorithm)  # type: ignore[arg-type]
    plain.drain()
    if plain.digest != diff_id:
        raise BlobInvalid(f"{where}: layer has DiffID {plain.digest}, the config says {diff_id}")
    f.seek(0)
    write_blob(store.content, f, digest, m.size)  # type: ignore[arg-type]
    return Descriptor(media_type=media_type, digest=digest, size=m.size)


@contextlib.contextmanager
def _atomic_output(path: str) -> Any:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def export_oci_archive(store: ImageStore, names: list[str], path: str) -> Index:
    """A tar of an OCI layout holding ``names``."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(prefix=".ketch-export.", dir=directory) as tmp:
        layout = os.path.join(tmp, "layout")
        index = export_layout(store, names, layout)
        with (
            _atomic_output(path) as out,
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            for entry in ("oci-layout", "index.json"):
                tar.add(os.path.join(layout, entry), entry, recursive=False)
            blobs = os.path.join(layout, "blobs")
            for alg in sorted(os.listdir(blobs)):
                tar.add(os.path.join(blobs, alg), f"blobs/{alg}", recursive=False)
                for hexpart in sorted(os.listdir(os.path.join(blobs, alg))):
                    tar.add(os.path.join(blobs, alg, hexpart), f"blobs/{alg}/{hexpart}", recursive=False)
    return index


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tar.addfile(ti, io.BytesIO(data))


def export_docker_archive(store: ImageStore, names: list[str], path: str) -> list[dict[str, Any]]:
    """``docker save``'s format (v1.2) for the images ``names`` (each resolved for the host platform)."""
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    directory = os.path.dirname(os.path.abspath(path))
    with _atomic_output(path) as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for n in names:
            record = store.resolve(n)
            image = load_image(store.content, record.target)
            raw_config = read_verified(store.content, image.manifest.config)
            config_name = f"{image.manifest.config.digest.hex}.json"
            if config_name not in written:
                _add_bytes(tar, config_name, raw_config)
                written.add(config_name)
            layer_paths = []
            parent = ""
            for layer, diff_id in image.layers:
                layer_id = diff_id.hex
                lpath = f"{layer_id}/layer.tar"
                if lpath not in written:
                    _add_dir(tar, layer_id)
                    _add_bytes(tar, f"{layer_id}/VERSION", b"1.0")
                    legacy = {"id": layer_id, **({"parent": parent} if parent else {})}
                    _add_bytes(tar, f"{layer_id}/json", dumps_compact(legacy))
                    _add_plain_layer(store, tar, layer, diff_id, lpath, directory)
                    written.add(lpath)
                layer_paths.append(lpath)
                parent = layer_id
            ref = parse_reference(record.name)
            # Fully qualified: docker load normalises it back, and podman would take a short
            # "busybox:latest" for localhost/busybox.
            tags = [str(ref)] if ref.tag is not None and ref.digest is None else []
            manifest_json.append({"Config": config_name, "RepoTags": tags or None, "Layers": layer_paths})
            if ref.tag is not None and parent:
                repositories.setdefault(ref.name, {})[ref.tag] = parent
        _add_bytes(tar, "manifest.json", dumps_compact(manifest_json))
        _add_bytes(tar, "repositories", dumps_compact(repositories))
    return manifest_json


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    tar.addfile(ti)


def _add_plain_layer(
    store: ImageStore, tar: tarfile.TarFile, layer: Descriptor, diff_id: Digest, name: str, directory: str
) -> None:
    """docker-archive layers are uncompressed tars whose sha256 is the DiffID."""
    with store.content.open(layer.digest) as raw, tempfile.TemporaryFile(dir=directory) as tmp:
        plain = HashingReader(decompressor(raw, LAYER_MEDIA_TYPES[layer.media_type], f"layer {layer.digest}"))
        while chunk := plain.read(1 << 20):
            tmp.write(chunk)
        if plain.digest != diff_id:
            raise BlobInvalid(
                f"layer {layer.digest}: uncompressed digest {plain.digest} is not its DiffID {diff_id}"
            )
        ti = tarfile.TarInfo(name)
        ti.size = tmp.tell()
        ti.mode = 0o644
        tmp.seek(0)
        tar.addfile(ti, tmp)
