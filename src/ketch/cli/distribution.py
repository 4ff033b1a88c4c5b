"""The registry commands: ``ketch pull``, ``push``, ``copy``, ``inspect``, ``tags``, ``referrers``, ``attach``,
``manifest``, ``login``, ``logout``, and the image-store shortcuts ``images``, ``tag``, ``rmi``.

The command table of :mod:`ketch.cli.main` names each command as ``ketch.cli.distribution.<command>``; this
module publishes one small module object per command under that name when it is imported (the import
system returns a submodule a parent put in ``sys.modules``), so every command keeps the table's
``run(args, options)`` contract while the code lives here.

Errors print one line, ``ketch <command>: <what is wrong>``, and exit 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from ketch.cli.main import GlobalOptions

__all__ = ["COMMANDS", "run_command"]

COMMANDS = (
    "attach",
    "copy",
    "images",
    "inspect",
    "login",
    "logout",
    "manifest",
    "pull",
    "push",
    "referrers",
    "rmi",
    "tag",
    "tags",
)


class UsageError(Exception):
    pass


# -- shared plumbing ------------------------------------------------------------------------------------


def _add_registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--authfile", help="credentials file (default $REGISTRY_AUTH_FILE or podman's auth.json)")
    p.add_argument(
        "--hosts-dir", help="hosts.toml directory: mirrors, TLS per registry (default /etc/ketch/certs.d)"
    )
    p.add_argument("--max-connections", type=int, default=6, help="connections per registry host")


def _session(a: argparse.Namespace, domain: str) -> Any:
    from ketch.registry.client import Session, SessionOptions

    hosts_dir = a.hosts_dir if a.hosts_dir is not None else os.environ.get("KETCH_HOSTS_DIR")
    return Session.open(
        domain,
        SessionOptions(
            hosts_dir=hosts_dir,
            auth_file=a.authfile,
            max_connections=max(1, a.max_connections),
        ),
    )


def _repository(a: argparse.Namespace, ref: Any) -> Any:
    from ketch.registry.client import Repository

    return Repository(_session(a, ref.domain), ref.path)


def _parse_ref(text: str) -> Any:
    from ketch.spec.reference import parse_reference

    return parse_reference(text)


def _reference_of(ref: Any) -> str:
    """What to ask the registry for: the digest when there is one (it pins the content), else the tag."""
    return str(ref.digest) if ref.digest is not None else ref.tag or "latest"


def _store(o: GlobalOptions) -> Any:
    from ketch.image.store import ImageStore

    return ImageStore(o.root)


def _sources(o: GlobalOptions) -> Any:
    from ketch.registry.client import BlobSources

    return BlobSources(os.path.join(o.root, "distribution", "sources.json"))


def _platform(text: str | None) -> Any:
    if not text:
        return None
    from ketch.image.platform import parse_platform

    return parse_platform(text)


def _selector(platform: Any) -> Callable[[Callable[[Any], bytes], Any], Any]:
    from ketch.image.platform import select_manifest

    def select(read: Callable[[Any], bytes], target: Any) -> Any:
        return select_manifest(read, target, platform).descriptor

    return select


def _progress(a: argparse.Namespace) -> Any:
    from ketch.registry.client import make_progress

    return make_progress(getattr(a, "quiet", False))


def _read_local(content: Any) -> Callable[[Any], bytes]:
    from ketch.image.blobs import read_verified

    return lambda d: read_verified(content, d)


# -- pipelined unpacking ----------------------------------------------------------------------------------


class _PipelinedUnpack:
    """Unpacks each layer into the overlay snapshotter as soon as its blob is in the store (layers of an
    overlay snapshot are independent directories, so arrival order does not matter)."""

    def __init__(self, store: Any, workers: int = 2) -> None:
        from ketch.image.snapshot import OverlaySnapshotter

        self.store = store
        self.snapshotter = OverlaySnapshotter(store.root)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unpack")
        self.lock = threading.Lock()
        self.images: dict[str, Any] = {}
        self.arrived: dict[str, set[str]] = {}
        self.futures: list[Future[Any]] = []
        self.unpacked = 0

    def on_blob(self, mdesc: Any, manifest: Any, desc: Any) -> None:
        from ketch.image.blobs import read_verified
        from ketch.image.resolve import Image
        from ketch.spec.image import ImageConfig

        key = str(mdesc.digest)
        with self.lock:
            if desc.digest == manifest.config.digest:
                try:
                    config = ImageConfig.parse(read_verified(self.store.content, desc))
                except ValueError:
                    return  # not an image config (an artifact): nothing to unpack
                if len(config.rootfs.diff_ids) != len(manifest.layers):
                    return  # load_image reports this mismatch when the image is used
                image: Any = Image(target=mdesc, manifest_descriptor=mdesc, manifest=manifest, config=config)
                self.images[key] = image
                for digest in self.arrived.pop(key, set()):
                    self._submit(image, digest)
            else:
                found = self.images.get(key)
                if found is None:
                    self.arrived.setdefault(key, set()).add(str(desc.digest))
                else:
                    self._submit(found, str(desc.digest))

    def _submit(self, image: Any, digest: str) -> None:
        for i, layer in enumerate(image.manifest.layers):
            if str(layer.digest) == digest:
                self.futures.append(
                    self.pool.submit(self.snapshotter.ensure_layer, self.store.content, image, i)
                )
                self.unpacked += 1

    def wait(self) -> None:
        try:
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _can_unpack(a: argparse.Namespace) -> bool:
    return not a.no_unpack and os.geteuid() == 0 and not a.all_platforms


# -- pull / push ------------------------------------------------------------------------------------------


def cmd_pull(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.errors import IngestBusy
    from ketch.registry.client import pull

    ref = _parse_ref(a.reference)
    store = _store(o)
    repo = _repository(a, ref)
    progress = _progress(a)
    unpacker = _PipelinedUnpack(store) if _can_unpack(a) else None
    try:
        with store.lease():
            result = pull(
                repo,
                _reference_of(ref),
                store.content,
                select=_selector(_platform(a.platform)),
                all_platforms=a.all_platforms,
                progress=progress,
                on_blob=unpacker.on_blob if unpacker else None,
                workers=max(1, a.max_connections),
                busy=(IngestBusy,),
            )
            if unpacker is not None:
                unpacker.wait()
            store.put(ref, result.target)
    finally:
        progress.close()
        if unpacker is not None:
            unpacker.pool.shutdown(wait=True, cancel_futures=True)
    with contextlib.suppress(OSError):
        blobs = [m.digest for m in result.manifests]
        _sources(o).record(ref.domain, ref.path, [*blobs, *_blob_digests(store, result.manifests)])
    if not a.quiet:
        sys.stderr.write(
            f"{ref}: {result.fetched} blobs fetched ({_human(result.bytes)}), {result.skipped} already present\n"
        )
    sys.stdout.write(f"{result.resolved.digest}\n")
    return 0


def _blob_digests(store: Any, manifests: list[Any]) -> list[Any]:
    from ketch.image.blobs import read_verified
    from ketch.spec.image import Manifest

    out = []
    for m in manifests:
        with contextlib.suppress(Exception):
            manifest = Manifest.parse(read_verified(store.content, m))
            out += [manifest.config.digest, *(layer.digest for layer in manifest.layers)]
    return out


def _human(n: float) -> str:
    from ketch.registry.client.progress import human_size

    return human_size(n)


def _push_from(
    a: argparse.Namespace,
    o: GlobalOptions,
    content: Any,
    root: Any,
    dest: Any,
    *,
    extra_mount: list[str] | None = None,
) -> Any:
    from ketch.registry.client import push

    repo = _repository(a, dest)
    sources = _sources(o)
    progress = _progress(a)

    def mount_from(digest: Any) -> list[str]:
        known = list(extra_mount or [])
        with contextlib.suppress(OSError):
            known += [r for r in sources.lookup(dest.domain, digest) if r not in known]
        return [r for r in known if r != dest.path]

    try:
        result = push(
            repo,
            dest.tag if dest.digest is None else None,
            content,
            root,
            _read_local(content),
            select=_selector(_platform(getattr(a, "platform", None))),
            all_platforms=a.all_platforms,
            progress=progress,
            mount_from=mount_from,
            workers=max(1, a.max_connections),
        )
    finally:
        progress.close()
    with contextlib.suppress(OSError):
        digests = [m.digest for m in result.manifests] + result.uploaded + result.mounted + result.existed
        sources.record(dest.domain, dest.path, digests)
    if dest.digest is not None and result.target.digest != dest.digest:
        from ketch.registry.client import ContentMismatch

        raise ContentMismatch(f"{dest}: the image pushed has digest {result.target.digest}")
    if not a.quiet:
        sys.stderr.write(
            f"{dest}: {len(result.uploaded)} blobs uploaded, {len(result.mounted)} mounted, "
            f"{len(result.existed)} already there\n"
        )
    return result


def cmd_push(a: argparse.Namespace, o: GlobalOptions) -> int:
    store = _store(o)
    record = store.resolve(a.source)
    dest = _parse_ref(a.destination or record.name)
    result = _push_from(a, o, store.content, record.target, dest)
    sys.stdout.write(f"{result.target.digest}\n")
    return 0


# -- copy between registries, layouts and archives -----------------------------------------------------


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
                raise UsageError(f"{text!r}: missing the {kind} path")
            return _Location(kind, path=path, tag=tag)
    if text.startswith("ketch:"):
        return _Location("local", ref=text[len("ketch:") :])
    return _Location("registry", ref=_parse_ref(text.removeprefix("docker://")))


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
    store = _store(o)
    select = _selector(_platform(a.platform))
    with contextlib.ExitStack() as stack:
        stack.enter_context(store.lease())
        # 1. The source as a content store and a root descriptor.
        extra_mount: list[str] = []
        if src.kind == "registry":
            from ketch.registry.client import pull

            progress = _progress(a)
            stack.callback(progress.close)
            content: Any = store.content
            if dst.kind == "oci":
                os.makedirs(dst.path, exist_ok=True)
                content = LayoutContentStore(dst.path)
            result = pull(
                _repository(a, src.ref),
                _reference_of(src.ref),
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
        read = _read_local(content)
        from ketch.spec.image import INDEX_MEDIA_TYPES

        if root.media_type in INDEX_MEDIA_TYPES and not a.all_platforms:
            root = select(read, root)
        # 2. The destination.
        if dst.kind == "registry":
            result_push = _push_from(a, o, content, root, dst.ref, extra_mount=extra_mount)
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


# -- inspection -------------------------------------------------------------------------------------------


def cmd_inspect(a: argparse.Namespace, o: GlobalOptions) -> int:
    ref = _parse_ref(a.reference)
    repo = _repository(a, ref)
    desc, data = repo.fetch_manifest(_reference_of(ref))
    if a.raw:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    out: dict[str, Any] = {
        "name": str(ref),
        "digest": str(desc.digest),
        "mediaType": desc.media_type,
        "size": desc.size,
        "manifest": json.loads(data),
    }
    from ketch.spec.image import Manifest

    if a.config:
        manifest = Manifest.parse(data)
        out["config"] = json.loads(repo.read_blob(manifest.config))
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


def cmd_tags(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.spec.reference import parse_reference

    ref = parse_reference(a.repository, default_tag=False)
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(f"{a.repository!r}: give a repository, without a tag or digest")
    for tag in _repository(a, ref).tags():
        sys.stdout.write(f"{tag}\n")
    return 0


def _subject(repo: Any, ref: Any) -> Any:
    return repo.resolve(_reference_of(ref))


def cmd_referrers(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.registry.client import list_referrers

    ref = _parse_ref(a.reference)
    repo = _repository(a, ref)
    subject = _subject(repo, ref)
    entries, how = list_referrers(repo, subject.digest, a.artifact_type)
    if a.format == "json":
        sys.stdout.write(
            json.dumps(
                {"subject": str(subject.digest), "via": how, "manifests": [e.to_json() for e in entries]},
                indent=2,
            )
            + "\n"
        )
        return 0
    for e in entries:
        sys.stdout.write(f"{e.digest}  {e.artifact_type or '-'}  {e.size}\n")
    return 0


def cmd_attach(a: argparse.Namespace, o: GlobalOptions) -> int:
    import hashlib

    from ketch._common.digest import Digest
    from ketch.registry.client import attach
    from ketch.spec.image import Descriptor

    ref = _parse_ref(a.reference)
    repo = _repository(a, ref)
    subject = _subject(repo, ref)
    files = []
    for path in a.files:
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        desc = Descriptor(
            media_type=a.media_type,
            digest=Digest(f"sha256:{h.hexdigest()}"),
            size=size,
            annotations={"org.opencontainers.image.title": os.path.basename(path)},
        )
        files.append((desc, _opener(path)))
    annotations = dict(kv.split("=", 1) for kv in a.annotation) if a.annotation else None
    desc, how = attach(repo, subject, a.artifact_type, files, annotations)
    if not a.quiet:
        sys.stderr.write(f"attached to {ref.name}@{subject.digest} (referrers {how})\n")
    sys.stdout.write(f"{desc.digest}\n")
    return 0


def _opener(path: str) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


# -- manifest lists -------------------------------------------------------------------------------------


def cmd_manifest(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.blobs import put_json, read_verified
    from ketch.spec.image import INDEX_MEDIA_TYPES, MT_OCI_INDEX, Descriptor, ImageConfig, Index, Manifest

    store = _store(o)
    if a.manifest_command == "create":
        entries = []
        for name in a.images:
            record = store.resolve(name)
            target = record.target
            if target.media_type in INDEX_MEDIA_TYPES:
                entries += Index.parse(read_verified(store.content, target)).manifests
                continue
            platform = target.platform
            if platform is None:
                manifest = Manifest.parse(read_verified(store.content, target))
                platform = ImageConfig.parse(read_verified(store.content, manifest.config)).platform()
            entries.append(
                Descriptor(
                    media_type=target.media_type, digest=target.digest, size=target.size, platform=platform
                )
            )
        seen = set()
        unique = []
        for e in entries:
            if e.digest not in seen:
                seen.add(e.digest)
                unique.append(e)
        with store.lease():
            index = Index(manifests=unique, media_type=MT_OCI_INDEX)
            desc = put_json(store.content, MT_OCI_INDEX, index.to_json())
            store.put(a.name, desc)
        sys.stdout.write(f"{desc.digest}\n")
        return 0
    # push
    record = store.resolve(a.name)
    if record.target.media_type not in INDEX_MEDIA_TYPES:
        raise UsageError(f"{record.name} is not a manifest list (ketch manifest create)")
    dest = _parse_ref(a.destination or record.name)
    a.all_platforms = True
    result = _push_from(a, o, store.content, record.target, dest)
    sys.stdout.write(f"{result.target.digest}\n")
    return 0


# -- credentials ------------------------------------------------------------------------------------------


def _registry_key(text: str) -> str:
    value = text.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not value:
        raise UsageError("name a registry")
    return value


def cmd_login(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.registry.client import (
        Authorizer,
        Credentials,
        CredentialStore,
        HostsConfig,
        Session,
        Transport,
    )
    from ketch.registry.client.hosts import DEFAULT_HOSTS_DIR
    from ketch.registry.client.session import raise_for_status

    key = _registry_key(a.registry)
    domain = key.split("/", 1)[0]
    username = a.username
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("no --username given and no terminal to ask on")
        username = input("Username: ")
    if a.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif a.password is not None:
        password = a.password
    else:
        if not sys.stdin.isatty():
            raise UsageError("no password: use --password-stdin")
        password = getpass.getpass("Password: ")
    given = Credentials(username, password)

    class _Given(CredentialStore):
        def lookup(self, registry: str, repository: str | None = None) -> Credentials | None:
            return given

    transport = Transport(max_connections=2)
    hosts_dir = (
        a.hosts_dir if a.hosts_dir is not None else os.environ.get("KETCH_HOSTS_DIR", DEFAULT_HOSTS_DIR)
    )
    registry = "docker.io" if domain in ("index.docker.io", "registry-1.docker.io") else domain
    session = Session(
        registry,
        transport=transport,
        authorizer=Authorizer(transport, _Given(a.authfile), registry),
        hosts=HostsConfig(hosts_dir),
    )
    # Check the credentials against the registry before storing them (GET /v2/, spec.md end-1).
    _, resp = session.send(
        "GET", "/v2/", scopes=[], capability="push" if session.endpoints_for("push") else "pull"
    )
    raise_for_status(resp, f"login to {domain}", domain)
    CredentialStore(a.authfile).login(key, username, password)
    sys.stdout.write("Login Succeeded!\n")
    return 0


def cmd_logout(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.registry.client import CredentialStore

    creds = CredentialStore(a.authfile)
    if a.all:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(creds.auth_file)
        sys.stdout.write("Removed login credentials for all registries\n")
        return 0
    if not a.registry:
        raise UsageError("name a registry (or --all)")
    key = _registry_key(a.registry)
    if not creds.logout(key):
        raise UsageError(f"not logged in to {key}")
    sys.stdout.write(f"Removed login credentials for {key}\n")
    return 0


# -- image store shortcuts --------------------------------------------------------------------------------


def _image_cli(args: list[str], o: GlobalOptions) -> int:
    from ketch.cli import image

    result: int = image.run(args, o)
    return result


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"ketch {command}")

    if command == "pull":
        p.description = "pull an image from a registry into the image store"
        p.add_argument("reference")
        p.add_argument("--platform", help="os/arch[/variant] (default: this host)")
        p.add_argument("--all-platforms", action="store_true", help="pull every platform of an index")
        p.add_argument("--no-unpack", action="store_true", help="do not unpack layers into snapshots")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.set_defaults(func=cmd_pull)
    elif command == "push":
        p.description = "push an image from the image store to a registry"
        p.add_argument("source", help="local image name")
        p.add_argument("destination", nargs="?", help="registry reference (default: the local name)")
        p.add_argument("--platform", help="os/arch[/variant] of an index to push (default: this host)")
        p.add_argument("--all-platforms", action="store_true", help="push the whole index")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.set_defaults(func=cmd_push)
    elif command == "copy":
        p.description = "copy an image: REF (a registry), oci:DIR[:TAG], oci-archive:FILE[:TAG] or ketch:NAME (image store)"
        p.add_argument("source")
        p.add_argument("destination")
        p.add_argument("--platform", help="os/arch[/variant] (default: this host)")
        p.add_argument("--all-platforms", action="store_true", help="copy every platform of an index")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.set_defaults(func=cmd_copy)
    elif command == "inspect":
        p.description = "show a manifest from a registry"
        p.add_argument("reference")
        p.add_argument(
            "--raw", action="store_true", help="print the manifest bytes as the registry sent them"
        )
        p.add_argument("--config", action="store_true", help="include the image config")
        p.set_defaults(func=cmd_inspect)
    elif command == "tags":
        p.description = "list a repository's tags"
        p.add_argument("repository")
        p.set_defaults(func=cmd_tags)
    elif command == "referrers":
        p.description = "list the artifacts that refer to an image (referrers API or tag schema)"
        p.add_argument("reference")
        p.add_argument("--artifact-type", help="only referrers of this artifact type")
        p.add_argument("--format", choices=["table", "json"], default="table")
        p.set_defaults(func=cmd_referrers)
    elif command == "attach":
        p.description = "push FILEs as an artifact whose subject is REF"
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("reference", metavar="REF")
        p.add_argument("--artifact-type", required=True)
        p.add_argument("--media-type", default="application/octet-stream", help="media type of the files")
        p.add_argument("--annotation", action="append", metavar="KEY=VALUE")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.set_defaults(func=cmd_attach)
    elif command == "manifest":
        p.description = "multi-platform images (image indexes)"
        sub = p.add_subparsers(dest="manifest_command", required=True)
        s = sub.add_parser("create", help="make an index in the image store from local images")
        s.add_argument("name")
        s.add_argument("images", nargs="+")
        s = sub.add_parser("push", help="push an index and every platform's image")
        s.add_argument("name")
        s.add_argument("destination", nargs="?")
        s.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        for s in sub.choices.values():
            _add_registry_options(s)
        p.set_defaults(func=cmd_manifest)
        return p
    elif command == "login":
        p.description = "store credentials for a registry (checked against it first)"
        p.add_argument("registry")
        p.add_argument("-u", "--username")
        p.add_argument("-p", "--password", help="(visible in the process list: prefer --password-stdin)")
        p.add_argument("--password-stdin", action="store_true")
        p.set_defaults(func=cmd_login)
    elif command == "logout":
        p.description = "forget a registry's credentials"
        p.add_argument("registry", nargs="?")
        p.add_argument("--all", action="store_true")
        p.set_defaults(func=cmd_logout)
    _add_registry_options(p)
    return p


_ALIASES = {"images": ["ls"], "tag": ["tag"], "rmi": ["rm"]}


def run_command(command: str, args: list[str], options: GlobalOptions) -> int:
    """Run ``ketch <command> <args>``: one line on stderr and exit status 1 for every expected failure."""
    if command in _ALIASES:
        return _image_cli([*_ALIASES[command], *args], options)
    from ketch.image.errors import ImageError
    from ketch.registry.client import ClientError
    from ketch.spec.image import ImageSpecError
    from ketch.spec.reference import InvalidReference

    p = _parser(command)
    a = p.parse_args(args)
    if not hasattr(a, "quiet"):
        a.quiet = False
    if not hasattr(a, "all_platforms"):
        a.all_platforms = False
    try:
        result: int = a.func(a, options)
        return result
    except UsageError as e:
        sys.stderr.write(f"ketch {command}: {e}\n")
        return 2
    except (ClientError, ImageError, ImageSpecError, InvalidReference, ValueError) as e:
        sys.stderr.write(f"ketch {command}: {e}\n")
        return 1
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        sys.stderr.write(f"ketch {command}: {e.strerror or e}{where}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"ketch {command}: interrupted\n")
        return 130


def _publish_commands() -> None:
    for name in COMMANDS:
        module = types.ModuleType(f"{__name__}.{name}", f"ketch {name} (see ketch.cli.distribution)")

        def run(args: list[str], options: GlobalOptions, _name: str = name) -> int:
            return run_command(_name, args, options)

        module.run = run  # type: ignore[attr-defined]
        sys.modules[module.__name__] = module


_publish_commands()
