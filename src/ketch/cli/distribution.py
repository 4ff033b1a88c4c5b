"""The registry commands: ``ketch pull``, ``push``, ``copy``, ``inspect``, ``tags``, ``referrers``, ``attach``,
``manifest``, ``login``, ``logout``, and the image-store shortcuts ``images``, ``tag``, ``rmi``.

The command table of :mod:`ketch.cli.main` names each command as ``ketch.cli.distribution.<command>``; this
module publishes one small module object per command under that name when it is imported (the import
system returns a submodule a parent put in ``sys.modules``), so every command keeps the table's
``run(args, options)`` contract while the code lives here. Shared plumbing (options, sessions, pushing) is in
:mod:`.distribution_common`, ``copy`` in :mod:`.distribution_copy`, pull's pipelined unpacking in
:mod:`.distribution_unpack`.

Errors print one line, ``ketch <command>: <what is wrong>``, and exit 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import types
from collections.abc import Callable
from typing import Any, BinaryIO

from ketch.cli import distribution_common as common
from ketch.cli.distribution_copy import cmd_copy
from ketch.cli.distribution_unpack import PipelinedUnpack, can_unpack
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


# -- pull / push ------------------------------------------------------------------------------------------


def cmd_pull(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.errors import IngestBusy
    from ketch.registry.client import pull

    ref = common.parse_ref(a.reference)
    store = common.store(o)
    repo = common.repository(a, ref)
    progress = common.progress(a)
    unpacker = PipelinedUnpack(store) if can_unpack(a) else None
    try:
        with store.lease():
            result = pull(
                repo,
                common.reference_of(ref),
                store.content,
                select=common.selector(common.platform(a.platform)),
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
        common.sources(o).record(ref.domain, ref.path, [*blobs, *_blob_digests(store, result.manifests)])
    if not a.quiet:
        sys.stderr.write(
            f"{ref}: {result.fetched} blobs fetched ({common.human(result.bytes)}), {result.skipped} already present\n"
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


def cmd_push(a: argparse.Namespace, o: GlobalOptions) -> int:
    store = common.store(o)
    record = store.resolve(a.source)
    dest = common.parse_ref(a.destination or record.name)
    result = common.push_from(a, o, store.content, record.target, dest)
    sys.stdout.write(f"{result.target.digest}\n")
    return 0


# -- inspection -------------------------------------------------------------------------------------------


def cmd_inspect(a: argparse.Namespace, o: GlobalOptions) -> int:
    ref = common.parse_ref(a.reference)
    repo = common.repository(a, ref)
    desc, data = repo.fetch_manifest(common.reference_of(ref))
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
        raise common.UsageError(f"{a.repository!r}: give a repository, without a tag or digest")
    for tag in common.repository(a, ref).tags():
        sys.stdout.write(f"{tag}\n")
    return 0


def _subject(repo: Any, ref: Any) -> Any:
    return repo.resolve(common.reference_of(ref))


def cmd_referrers(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.registry.client import list_referrers

    ref = common.parse_ref(a.reference)
    repo = common.repository(a, ref)
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

    ref = common.parse_ref(a.reference)
    repo = common.repository(a, ref)
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

    store = common.store(o)
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
        raise common.UsageError(f"{record.name} is not a manifest list (ketch manifest create)")
    dest = common.parse_ref(a.destination or record.name)
    a.all_platforms = True
    result = common.push_from(a, o, store.content, record.target, dest)
    sys.stdout.write(f"{result.target.digest}\n")
    return 0


# -- credentials ------------------------------------------------------------------------------------------


def _registry_key(text: str) -> str:
    value = text.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not value:
        raise common.UsageError("name a registry")
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
            raise common.UsageError("no --username given and no terminal to ask on")
        username = input("Username: ")
    if a.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif a.password is not None:
        password = a.password
    else:
        if not sys.stdin.isatty():
            raise common.UsageError("no password: use --password-stdin")
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
        raise common.UsageError("name a registry (or --all)")
    key = _registry_key(a.registry)
    if not creds.logout(key):
        raise common.UsageError(f"not logged in to {key}")
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
            common.add_registry_options(s)
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
    common.add_registry_options(p)
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
    except common.UsageError as e:
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
