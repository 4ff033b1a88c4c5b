"""``ketch copy``: images between registries, OCI layouts (``oci:DIR[:TAG]``), OCI archives
(``oci-archive:FILE[:TAG]``) and the image store (``ketch:NAME``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ketch.cli import distribution_common as common
from ketch.cli.main import GlobalOptions

__all__ = ["cmd_copy"]


@dataclass
class _Location:
    kind: str  # "registry", "oci", "oci-archive", "local"
    path: str = ""
    tag: str | None = None
    ref: Any = None


def _location(text: str) -> _Location:
    for kind in ("oci-archive", "oci"):
        if text.startswith(kind + ":"):
            rest = text[len(kind) + 1 :]
            path, tag = rest, None
            # oci:DIR:TAG — a tag never contains '/', so a colon after the last slash separates it.
            head, sep, tail = rest.rpartition(":")
            if sep and "/" not in tail and head:
                path, tag = head, tail
            if not path:
                raise common.UsageError(f"{text!r}: missing the {kind} path")
            return _Location(kind, path=path, tag=tag)
    if text.startswith("ketch:"):
        return _Location("local", ref=text[len("ketch:") :])
    return _Location("registry", ref=common.parse_ref(text.removeprefix("docker://")))


def _layout_index(path: str) -> Any:
    from ketch.image.layout import read_layout

    return read_layout(path)


def _layout_entry(path: str, tag: str | None) -> Any:
    from ketch.image.errors import ImageNotFound
    from ketch.spec.image import ANNOTATION_REF_NAME

    index = _layout_index(path)
    entries = index.manifests
    if tag is not None:
        entries = [e for e in entries if (e.annotations or {}).get(ANNOTATION_REF_NAME) in (tag,)]
        if not entries:
            entries = [
                e
                for e in index.manifests
                if (e.annotations or {}).get(ANNOTATION_REF_NAME, "").rpartition(":")[2] == tag
            ]
        if not entries:
            raise ImageNotFound(f"{path}: no image tagged {tag!r} in index.json")
    elif len(entries) != 1:
        raise ImageNotFound(f"{path}: index.json lists {len(entries)} images; name one as oci:{path}:TAG")
    e = entries[0]
    from ketch.spec.image import Descriptor

    return Descriptor(media_type=e.media_type, digest=e.digest, size=e.size, platform=e.platform)


def _write_layout_entry(path: str, root: Any, tag: str | None) -> None:
    from ketch._common.atomicio import write_atomic
    from ketch._common.jsonio import dumps_compact
    from ketch.spec.image import ANNOTATION_REF_NAME, MT_OCI_INDEX, Descriptor, Index, OciLayout

    try:
        index = _layout_index(path)
    except Exception:
        if os.path.exists(os.path.join(path, "index.json")):
            raise
        index = Index(manifests=[], media_type=MT_OCI_INDEX)
    entry = Descriptor(
        media_type=root.media_type,
        digest=root.digest,
        size=root.size,
        platform=root.platform,
        annotations={ANNOTATION_REF_NAME: tag} if tag else None,
    )
    kept = [e for e in index.manifests if not tag or (e.annotations or {}).get(ANNOTATION_REF_NAME) != tag]
    index.manifests = [*kept, entry]
    write_atomic(os.path.join(path, "oci-layout"), dumps_compact(OciLayout().to_json()))
    write_atomic(os.path.join(path, "index.json"), dumps_compact(index.to_json()))


@contextlib.contextmanager
def _extracted(path: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(
        prefix=".ketch-copy.", dir=os.path.dirname(os.path.abspath(path))
    ) as tmp:
        try:
            with tarfile.open(path, "r:*") as tar:
                _extract_layout(tar, tmp)
        except (tarfile.TarError, OSError) as e:
            from ketch.image.errors import ArchiveError

            raise ArchiveError(f"{path}: not a readable oci-archive ({e})") from None
        yield tmp


_LAYOUT_MEMBER = re.compile(r"(?:oci-layout|index\.json|blobs/sha(?:256|512)/[0-9a-f]{64,128})\Z")


def _extract_layout(tar: tarfile.TarFile, dest: str) -> None:
    """Copy out only the regular files an OCI layout has, by names checked against a strict pattern: no
    member can land outside ``dest`` (path traversal, CVE-2007-4559) and links are never followed."""
    for member in tar:
        name = "/".join(p for p in member.name.split("/") if p not in ("", "."))
        if not member.isreg() or not _LAYOUT_MEMBER.match(name):
            continue
        target = os.path.join(dest, *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        with src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)


def _tar_layout(layout: str, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in ("oci-layout", "index.json"):
                tar.add(os.path.join(layout, entry), entry, recursive=False)
            blobs = os.path.join(layout, "blobs")
            for alg in sorted(os.listdir(blobs)):
                tar.add(os.path.join(blobs, alg), f"blobs/{alg}", recursive=False)
                for name in sorted(os.listdir(os.path.join(blobs, alg))):
                    tar.add(os.path.join(blobs, alg, name), f"blobs/{alg}/{name}", recursive=False)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def cmd_copy(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.layout import LayoutContentStore, copy_image

    src = _location(a.source)
    dst = _location(a.destination)
    store = common.store(o)
    select = common.selector(common.platform(a.platform))
    with contextlib.ExitStack() as stack:
        stack.enter_context(store.lease())
        # 1. The source as a content store and a root descriptor.
        extra_mount: list[str] = []
        if src.kind == "registry":
            from ketch.registry.client import pull

            progress = common.progress(a)
            stack.callback(progress.close)
            content: Any = store.content
            if dst.kind == "oci":
                os.makedirs(dst.path, exist_ok=True)
                content = LayoutContentStore(dst.path)
            result = pull(
                common.repository(a, src.ref),
                common.reference_of(src.ref),
                content,
                select=select,
                all_platforms=a.all_platforms,
                progress=progress,
                workers=max(1, a.max_connections),
            )
            root = result.target
            if dst.kind == "registry" and dst.ref.domain == src.ref.domain:
                extra_mount.append(src.ref.path)
        elif src.kind == "oci":
            content = LayoutContentStore(src.path)
            root = _layout_entry(src.path, src.tag)
        elif src.kind == "oci-archive":
            tmp = stack.enter_context(_extracted(src.path))
            content = LayoutContentStore(tmp)
            root = _layout_entry(tmp, src.tag)
        else:
            content = store.content
            root = store.resolve(src.ref).target
        read = common.read_local(content)
        from ketch.spec.image import INDEX_MEDIA_TYPES

        if root.media_type in INDEX_MEDIA_TYPES and not a.all_platforms:
            root = select(read, root)
        # 2. The destination.
        if dst.kind == "registry":
            result_push = common.push_from(a, o, content, root, dst.ref, extra_mount=extra_mount)
            digest = result_push.target.digest
        elif dst.kind == "oci":
            os.makedirs(dst.path, exist_ok=True)
            target = LayoutContentStore(dst.path)
            if content is not target and getattr(content, "root", None) != target.root:
                copy_image(content, target, root)
            target.tidy()
            _write_layout_entry(dst.path, root, dst.tag)
            digest = root.digest
        elif dst.kind == "oci-archive":
            tmp_layout = stack.enter_context(
                tempfile.TemporaryDirectory(
                    prefix=".ketch-copy.", dir=os.path.dirname(os.path.abspath(dst.path))
                )
            )
            target = LayoutContentStore(tmp_layout)
            copy_image(content, target, root)
            target.tidy()
            _write_layout_entry(tmp_layout, root, dst.tag)
            _tar_layout(tmp_layout, dst.path)
            digest = root.digest
        else:
            from ketch.image.layout import copy_image as copy_into

            if content is not store.content:
                copy_into(content, store.content, root)
            store.put(dst.ref, root)
            digest = root.digest
    sys.stdout.write(f"{digest}\n")
    return 0
