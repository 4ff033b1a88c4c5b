"""``ketch``: the user's command line.

``ketch [--root DIR] COMMAND [ARGS...]``. Commands live in their own modules, listed in :data:`COMMANDS` and
imported only when used, so ``ketch version`` stays instant whatever the other commands need. A command
module provides ``run(args: list[str], options: GlobalOptions) -> int``.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

__all__ = ["COMMANDS", "GlobalOptions", "main"]

DEFAULT_ROOT = "/var/lib/ketch"

# command name -> (module path, one-line help). Other parts of ketch add their commands here.
COMMANDS: dict[str, tuple[str, str]] = {
    "image": (
        "ketch.cli.image",
        "manage images: import, export, ls, inspect, tag, rm, unpack, prune, commit",
    ),
    "attach": ("ketch.cli.distribution.attach", "push files as an artifact referring to an image"),
    "copy": ("ketch.cli.distribution.copy", "copy images between registries, oci: layouts and oci-archive:"),
    "images": ("ketch.cli.distribution.images", "list images (ketch image ls)"),
    "inspect": ("ketch.cli.distribution.inspect", "show a manifest from a registry (--raw: as sent)"),
    "login": ("ketch.cli.distribution.login", "store credentials for a registry"),
    "logout": ("ketch.cli.distribution.logout", "forget a registry's credentials"),
    "manifest": ("ketch.cli.distribution.manifest", "create and push multi-platform indexes"),
    "pull": ("ketch.cli.distribution.pull", "pull an image from a registry"),
    "push": ("ketch.cli.distribution.push", "push an image to a registry"),
    "referrers": ("ketch.cli.distribution.referrers", "list artifacts referring to an image"),
    "registry": ("ketch.cli.registry", "run an OCI distribution registry: serve, gc"),
    "rmi": ("ketch.cli.distribution.rmi", "remove images (ketch image rm)"),
    "tag": ("ketch.cli.distribution.tag", "give an image another name (ketch image tag)"),
    "tags": ("ketch.cli.distribution.tags", "list a repository's tags"),
    "version": ("ketch.cli.main", "print the version"),
}


@dataclass(frozen=True)
class GlobalOptions:
    root: str = DEFAULT_ROOT


def _usage() -> str:
    lines = ["usage: ketch [--root DIR] COMMAND [ARGS...]", "", "Commands:"]
    lines += [f"  {name:<10}  {text}" for name, (_, text) in sorted(COMMANDS.items())]
    lines += ["", f"--root DIR   state directory (default $KETCH_ROOT or {DEFAULT_ROOT})", ""]
    return "\n".join(lines)


def run(args: list[str], options: GlobalOptions) -> int:
    """``ketch version``."""
    from ketch import __version__

    sys.stdout.write(f"ketch version {__version__}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    root = os.environ.get("KETCH_ROOT") or DEFAULT_ROOT
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            sys.stdout.write(_usage())
            return 0
        if opt == "--version":
            return run([], GlobalOptions(root))
        if opt == "--root" and args:
            root = args.pop(0)
        elif opt.startswith("--root="):
            root = opt.partition("=")[2]
        else:
            sys.stderr.write(f"ketch: unknown option {opt!r}; see 'ketch --help'\n")
            return 2
    if not args:
        sys.stdout.write(_usage())
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        sys.stderr.write(f"ketch: unknown command {args[0]!r}; see 'ketch --help'\n")
        return 2
    module = importlib.import_module(entry[0])
    result: int = module.run(args[1:], GlobalOptions(os.path.abspath(root)))
    return result


if __name__ == "__main__":
    sys.exit(main())
