"""``ketch``: the user's command line.

``ketch [--root DIR] COMMAND [ARGS...]``. Commands live in their own modules, listed in :data:`COMMANDS` and
imported only when used, so ``ketch version`` stays instant whatever the other commands need. A command
module provides ``run(args: list[str], options: GlobalOptions) -> int``.
"""

from __future__ import annotations

import os
import sys

from ketch._common.model import model

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
    "commit": ("ketch.cli.containers.commit", "make an image of a container's changes"),
    "cp": ("ketch.cli.containers.cp", "copy files between a container and the host"),
    "container": ("ketch.cli.containers.container", "container commands by their long names: container inspect NAME"),
    "create": ("ketch.cli.containers.create", "create a container without starting it"),
    "exec": ("ketch.cli.containers.exec", "run a command in a running container"),
    "info": ("ketch.cli.containers.info", "configuration in effect, runtimes, cgroups, storage"),
    "kill": ("ketch.cli.containers.kill", "send a signal to containers"),
    "logs": ("ketch.cli.containers.logs", "show a detached container's output"),
    "network": ("ketch.cli.containers.network", "manage networks: create, ls, inspect, rm"),
    "port": ("ketch.cli.containers.port", "list a container's published ports"),
    "prune": ("ketch.cli.containers.prune", "remove stopped containers and unused image content"),
    "ps": ("ketch.cli.containers.ps", "list containers"),
    "restart": ("ketch.cli.containers.restart", "restart containers"),
    "rm": ("ketch.cli.containers.rm", "remove containers"),
    "run": ("ketch.cli.containers.run", "run a command in a new container"),
    "start": ("ketch.cli.containers.start", "start stopped containers"),
    "stats": ("ketch.cli.containers.stats", "CPU, memory and pids of containers"),
    "stop": ("ketch.cli.containers.stop", "stop containers"),
    "top": ("ketch.cli.containers.top", "list a container's processes"),
    "volume": ("ketch.cli.containers.volume", "manage volumes: create, ls, inspect, rm"),
    "wait": ("ketch.cli.containers.wait", "wait for containers to exit"),
    "images": ("ketch.cli.distribution.images", "list images (ketch image ls)"),
    "inspect": ("ketch.cli.containers.inspect", "show a container, or an image's manifest from a registry (--raw: as sent)"),
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


@model(frozen=True)
class GlobalOptions:
    """Options given before the command."""

    root: str = DEFAULT_ROOT
    root_given: bool = False  # --root or $KETCH_ROOT (else the config file's storage root applies)
    run_root: str | None = None  # --run-root: the container engine's runtime state
    config: str | None = None  # --config FILE (else $KETCH_CONFIG or /etc/ketch/ketch.toml)
    debug: bool = False  # --debug: tracebacks for errors


def _usage() -> str:
    lines = ["usage: ketch [--root DIR] COMMAND [ARGS...]", "", "Commands:"]
    lines += [f"  {name:<10}  {text}" for name, (_, text) in sorted(COMMANDS.items())]
    lines += [
        "",
        f"--root DIR       state directory (default $KETCH_ROOT, the config file's, or {DEFAULT_ROOT})",
        "--run-root DIR   container runtime state (default /run/ketch-engine)",
        "--config FILE    configuration file (default $KETCH_CONFIG or /etc/ketch/ketch.toml)",
        "--debug          show tracebacks of errors",
        "",
    ]
    return "\n".join(lines)


def run(args: list[str], options: GlobalOptions) -> int:
    """``ketch version``."""
    from ketch import __version__

    sys.stdout.write(f"ketch version {__version__}\n")
    return 0


def _configured_root(config: str | None) -> str | None:
    """``[storage] root`` of the config file (``--config``, $KETCH_CONFIG, /etc/ketch/ketch.toml), if set."""
    path = config or os.environ.get("KETCH_CONFIG") or "/etc/ketch/ketch.toml"
    if not os.path.exists(path):
        return None
    import tomllib

    try:
        with open(path, "rb") as f:
            value = tomllib.load(f).get("storage", {}).get("root")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None  # the engine's loader reports a bad file, naming the problem
    return value if isinstance(value, str) and value else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    root = os.environ.get("KETCH_ROOT") or DEFAULT_ROOT
    root_given = bool(os.environ.get("KETCH_ROOT"))
    run_root: str | None = None
    config: str | None = None
    debug = False
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            sys.stdout.write(_usage())
            return 0
        if opt == "--version":
            return run([], GlobalOptions(root))
        if opt == "--root" and args:
            root, root_given = args.pop(0), True
        elif opt.startswith("--root="):
            root, root_given = opt.partition("=")[2], True
        elif opt in ("--run-root", "--config") and args:
            value = os.path.abspath(args.pop(0))
            run_root, config = (value, config) if opt == "--run-root" else (run_root, value)
        elif opt.startswith(("--run-root=", "--config=")):
            value = os.path.abspath(opt.partition("=")[2])
            run_root, config = (value, config) if opt.startswith("--run-root") else (run_root, value)
        elif opt == "--debug":
            debug = True
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
    module = __import__(entry[0], fromlist=["run"])  # not importlib: it loads warnings, a cost of every call
    if not root_given:
        root = _configured_root(config) or root
    options = GlobalOptions(os.path.abspath(root), root_given, run_root, config, debug)
    result: int = module.run(args[1:], options)
    return result


if __name__ == "__main__":
    sys.exit(main())
