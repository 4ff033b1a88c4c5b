"""``ketch registry serve``: run the OCI distribution registry."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ketch registry", description="OCI distribution-spec registry")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve a registry")
    s.add_argument("--config", metavar="FILE", help="TOML configuration file")
    s.add_argument("--addr", metavar="HOST:PORT", help="listen address (default 127.0.0.1:5000)")
    s.add_argument("--root", metavar="DIR", help="storage directory")
    s.add_argument("--read-only", action="store_true", default=None, help="refuse every write")
    s.add_argument("--tls-cert", metavar="FILE")
    s.add_argument("--tls-key", metavar="FILE")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    g = sub.add_parser("gc", help="collect garbage once (safe while a server runs)")
    g.add_argument("--config", metavar="FILE")
    g.add_argument("--root", metavar="DIR")
    g.add_argument(
        "--grace", type=float, default=None, help="seconds a fresh blob is kept (default from config)"
    )
    g.add_argument("--untagged", action="store_true", help="also delete manifests no tag reaches")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from ketch.registry.server import ConfigError, load_config

    try:
        if args.command == "serve":
            config = load_config(
                args.config,
                addr=args.addr,
                root=args.root,
                read_only=args.read_only,
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
            )
        else:
            config = load_config(args.config, root=args.root)
    except ConfigError as e:
        sys.stderr.write(f"ketch registry: {e}\n")
        return 2
    logging.basicConfig(
        level=getattr(logging, getattr(args, "log_level", "info").upper()),
        format="%(message)s"
        if getattr(args, "log_level", "info") == "info"
        else "%(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "gc":
        from ketch.registry.server.app import open_store
        from ketch.registry.storage.gc import collect_garbage

        store = open_store(config)
        grace = config.gc.grace if args.grace is None else args.grace
        result = collect_garbage(
            store,
            grace=grace,
            untagged=args.untagged or config.gc.untagged,
            upload_max_age=config.upload_purge_after,
        )
        sys.stdout.write(
            f"deleted {result.blobs_deleted} blobs ({result.bytes_freed} bytes), "
            f"{result.manifests_deleted} manifests, {result.uploads_purged} stale uploads\n"
        )
        return 0
    from ketch.registry.server import ServerError, serve

    try:
        asyncio.run(serve(config))
    except (ServerError, OSError) as e:
        sys.stderr.write(f"ketch registry: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def run(args: list[str], options: object) -> int:
    """``ketch registry ...``: the registry keeps its own --root (its storage), not the image store's."""
    return main(args)
