"""What the registry commands (:mod:`ketch.cli.distribution`) share: registry options, sessions,
references, the image store, platforms and progress output."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from ketch.cli.main import GlobalOptions

__all__ = [
    "UsageError",
    "add_registry_options",
    "human",
    "parse_ref",
    "platform",
    "progress",
    "push_from",
    "read_local",
    "reference_of",
    "repository",
    "selector",
    "session",
    "sources",
    "store",
]


class UsageError(Exception):
    pass


def add_registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--authfile", help="credentials file (default $REGISTRY_AUTH_FILE or podman's auth.json)")
    p.add_argument(
        "--hosts-dir", help="hosts.toml directory: mirrors, TLS per registry (default /etc/ketch/certs.d)"
    )
    p.add_argument("--max-connections", type=int, default=6, help="connections per registry host")


def session(a: argparse.Namespace, domain: str) -> Any:
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


def repository(a: argparse.Namespace, ref: Any) -> Any:
    from ketch.registry.client import Repository

    return Repository(session(a, ref.domain), ref.path)


def parse_ref(text: str) -> Any:
    from ketch.spec.reference import parse_reference

    return parse_reference(text)


def reference_of(ref: Any) -> str:
    """What to ask the registry for: the digest when there is one (it pins the content), else the tag."""
    return str(ref.digest) if ref.digest is not None else ref.tag or "latest"


def store(o: GlobalOptions) -> Any:
    from ketch.image.store import ImageStore

    return ImageStore(o.root)


def sources(o: GlobalOptions) -> Any:
    from ketch.registry.client import BlobSources

    return BlobSources(os.path.join(o.root, "distribution", "sources.json"))


def platform(text: str | None) -> Any:
    if not text:
        return None
    from ketch.image.platform import parse_platform

    return parse_platform(text)


def selector(platform: Any) -> Callable[[Callable[[Any], bytes], Any], Any]:
    from ketch.image.platform import select_manifest

    def select(read: Callable[[Any], bytes], target: Any) -> Any:
        return select_manifest(read, target, platform).descriptor

    return select


def progress(a: argparse.Namespace) -> Any:
    from ketch.registry.client import make_progress

    return make_progress(getattr(a, "quiet", False))


def read_local(content: Any) -> Callable[[Any], bytes]:
    from ketch.image.blobs import read_verified

    return lambda d: read_verified(content, d)


def human(n: float) -> str:
    from ketch.registry.client.progress import human_size

    return human_size(n)


def push_from(
    a: argparse.Namespace,
    o: GlobalOptions,
    content: Any,
    root: Any,
    dest: Any,
    *,
    extra_mount: list[str] | None = None,
) -> Any:
    from ketch.registry.client import push

    repo = repository(a, dest)
    known = sources(o)
    bar = progress(a)

    def mount_from(digest: Any) -> list[str]:
        repos = list(extra_mount or [])
        with contextlib.suppress(OSError):
            repos += [r for r in known.lookup(dest.domain, digest) if r not in repos]
        return [r for r in repos if r != dest.path]

    try:
        result = push(
            repo,
            dest.tag if dest.digest is None else None,
            content,
            root,
            read_local(content),
            select=selector(platform(getattr(a, "platform", None))),
            all_platforms=a.all_platforms,
            progress=bar,
            mount_from=mount_from,
            workers=max(1, a.max_connections),
        )
    finally:
        bar.close()
    with contextlib.suppress(OSError):
        digests = [m.digest for m in result.manifests] + result.uploaded + result.mounted + result.existed
        known.record(dest.domain, dest.path, digests)
    if dest.digest is not None and result.target.digest != dest.digest:
        from ketch.registry.client import ContentMismatch

        raise ContentMismatch(f"{dest}: the image pushed has digest {result.target.digest}")
    if not a.quiet:
        sys.stderr.write(
            f"{dest}: {len(result.uploaded)} blobs uploaded, {len(result.mounted)} mounted, "
            f"{len(result.existed)} already there\n"
        )
    return result
