"""``ketch-runtime``: runc's command line over ketch's OCI runtime.

containerd's shim, podman and conmon call runc with global flags before the command
(``--root DIR --log FILE --log-format json create --bundle DIR --pid-file FILE ID``); the same words work
here. Start-up time matters (a container start is several invocations), so the parser is a small table
instead of argparse and each command imports only what it uses.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main"]

DEFAULT_ROOT = "/run/ketch"

USAGE = """usage: ketch-runtime [global options] COMMAND [options] [ARGS]

An OCI runtime (opencontainers/runtime-spec) with runc's command line.

Commands:
  create     create a container from a bundle          (--bundle, --console-socket, --pid-file, ...)
  start      run the program of a created container
  run        create and start a container, wait for it  (--detach, --keep, and create's options)
  state      print a container's state as JSON
  kill       send a signal to a container (default SIGTERM; --all for every process)
  delete     delete a container (--force kills it first)
  list       list containers (--format table|json, --quiet)
  spec       write a default config.json (--bundle DIR)
  features   print what this runtime implements (runtime-spec features.md)

Global options:
  --root DIR            state directory (default /run/ketch)
  --log FILE            append errors and warnings to FILE (default stderr)
  --log-format FORMAT   text or json
  --debug               log debug messages
  --systemd-cgroup      use systemd's cgroup driver (not available: no systemd)
  --version, -v         print the version
"""

# flag -> (destination, takes a value)
_GLOBAL = {
    "root": ("root", True),
    "log": ("log", True),
    "log-format": ("log_format", True),
    "debug": ("debug", False),
    "systemd-cgroup": ("systemd_cgroup", False),
    "criu": ("criu", True),
    "rootless": ("rootless", True),
    "help": ("help", False),
    "h": ("help", False),
    "version": ("version", False),
    "v": ("version", False),
}
_CREATE = {
    "bundle": ("bundle", True),
    "b": ("bundle", True),
    "console-socket": ("console_socket", True),
    "pid-file": ("pid_file", True),
    "no-pivot": ("no_pivot", False),
    "no-new-keyring": ("no_new_keyring", False),
    "preserve-fds": ("preserve_fds", True),
    "help": ("help", False),
    "h": ("help", False),
}
_COMMANDS: dict[str, tuple[dict[str, tuple[str, bool]], int, str]] = {
    # name: (flags, number of positional args (-1 any), usage)
    "create": (_CREATE, 1, "create [--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--no-pivot] "
               "[--no-new-keyring] [--preserve-fds N] ID"),
    "run": ({**_CREATE, "detach": ("detach", False), "d": ("detach", False), "keep": ("keep", False)}, 1,
            "run [--detach] [--keep] [create options] ID"),
    "start": ({"help": ("help", False)}, 1, "start ID"),
    "state": ({"help": ("help", False)}, 1, "state ID"),
    "kill": ({"all": ("all", False), "a": ("all", False), "help": ("help", False)}, -1, "kill [--all] ID [SIGNAL]"),
    "delete": ({"force": ("force", False), "f": ("force", False), "help": ("help", False)}, 1,
               "delete [--force] ID"),
    "list": ({"format": ("format", True), "f": ("format", True), "quiet": ("quiet", False),
              "q": ("quiet", False), "help": ("help", False)}, 0, "list [--format table|json] [--quiet]"),
    "spec": ({"bundle": ("bundle", True), "b": ("bundle", True), "rootless": ("rootless", False),
              "help": ("help", False)}, 0, "spec [--bundle DIR] [--rootless]"),
    "features": ({"help": ("help", False)}, 0, "features"),
}


class UsageError(Exception):
    pass


def _parse(args: list[str], table: dict[str, tuple[str, bool]], stop_at_positional: bool) -> tuple[dict[str, Any], list[str]]:
    opts: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i + 1 :])
            break
        if arg.startswith("-") and len(arg) > 1 and not (rest and stop_at_positional):
            name, eq, value = arg.lstrip("-").partition("=")
            entry = table.get(name)
            if entry is None:
                if stop_at_positional:
                    raise UsageError(f"unknown global option {arg!r}")
                raise UsageError(f"unknown option {arg!r}")
            dest, takes = entry
            if takes:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"option {arg!r} needs a value")
                    value = args[i]
                opts[dest] = value
            else:
                opts[dest] = value.lower() not in ("false", "0") if eq else True
        else:
            if stop_at_positional:
                rest.extend(args[i:])
                break
            rest.append(arg)
        i += 1
    return opts, rest


class _Log:
    """--log/--log-format: errors (and warnings) go to the log file in runc's shapes, and to stderr."""

    def __init__(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path = path
        self.fmt = fmt
        self.debug = debug

    def write(self, level: str, msg: str) -> None:
        if self.path:
            import time

            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
            if self.fmt == "json":
                import json

                line = json.dumps({"level": level, "msg": msg, "time": stamp})
            else:
                line = f'time="{stamp}" level={level} msg="{msg}"'
            try:
                with open(self.path, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass
        if level in ("error", "warning") or self.debug:
            sys.stderr.write(f"ketch-runtime: {msg}\n" if level == "error" else f"ketch-runtime: {level}: {msg}\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    log = _Log(None, "text", False)
    try:
        gopts, rest = _parse(args, _GLOBAL, True)
        log = _Log(gopts.get("log"), gopts.get("log_format", "text"), bool(gopts.get("debug")))
        if gopts.get("log_format", "text") not in ("text", "json"):
            raise UsageError(f"--log-format: {gopts['log_format']!r} is not text or json")
        if gopts.get("version"):
            from ketch import __version__
            from ketch.spec.runtime_defaults import OCI_VERSION

            sys.stdout.write(f"ketch-runtime version {__version__}\nspec: {OCI_VERSION}\n")
            return 0
        if gopts.get("help") or not rest:
            sys.stdout.write(USAGE)
            return 0 if gopts.get("help") else 2
        command = rest[0]
        entry = _COMMANDS.get(command)
        if entry is None:
            raise UsageError(f"unknown command {command!r}")
        table, nargs, usage = entry
        opts, pos = _parse(rest[1:], table, False)
        if opts.get("help"):
            sys.stdout.write(f"usage: ketch-runtime {usage}\n")
            return 0
        if nargs >= 0 and len(pos) != nargs:
            raise UsageError(f"{command}: expected {nargs} argument(s), got {len(pos)}; usage: ketch-runtime {usage}")
        root = gopts.get("root") or DEFAULT_ROOT
        handler = globals()["_cmd_" + command]
        result: int = handler(root, opts, pos, gopts, log)
        return result
    except UsageError as exc:
        log.write("error", str(exc))
        return 2
    except Exception as exc:
        from ketch.runtime.errors import RuntimeFailure

        if isinstance(exc, RuntimeFailure):
            log.write("error", str(exc))
        elif isinstance(exc, OSError):
            text = exc.strerror or str(exc)
            log.write("error", text if exc.filename is None else f"{text}: {exc.filename}")
        else:
            if log.debug:
                import traceback

                traceback.print_exc()
            log.write("error", f"{type(exc).__name__}: {exc}")
        return 1


def _store(root: str) -> Any:
    from ketch.runtime.state import StateStore

    return StateStore(os.path.abspath(root))


def _create_options(opts: dict[str, Any], gopts: dict[str, Any]) -> Any:
    from ketch.runtime.process.parent import CreateOptions

    preserve = opts.get("preserve_fds", "0")
    try:
        preserve_fds = int(preserve)
        if preserve_fds < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--preserve-fds: {preserve!r} is not a non-negative number") from None
    return CreateOptions(
        opts.get("bundle") or os.getcwd(),
        console_socket=opts.get("console_socket"),
        pid_file=opts.get("pid_file"),
        no_pivot=bool(opts.get("no_pivot")),
        no_new_keyring=bool(opts.get("no_new_keyring")),
        preserve_fds=preserve_fds,
        systemd_cgroup=bool(gopts.get("systemd_cgroup")),
    )


def _cmd_create(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.process.parent import create_container

    create_container(_store(root), pos[0], _create_options(opts, gopts))
    return 0


def _cmd_start(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import start

    for warning in start(_store(root), pos[0]):
        log.write("warning", warning)
    return 0


def _cmd_run(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.run import run

    return run(_store(root), pos[0], _create_options(opts, gopts), detach=bool(opts.get("detach")),
               keep=bool(opts.get("keep")), warn=lambda m: log.write("warning", m))


def _cmd_state(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch._common.fastjson import dumps_pretty
    from ketch.runtime.container import state_of

    sys.stdout.write(dumps_pretty(state_of(_store(root), pos[0])) + "\n")
    return 0


def _cmd_kill(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import kill
    from ketch.runtime.signals import parse_signal

    if len(pos) not in (1, 2):
        raise UsageError("kill: usage: ketch-runtime kill [--all] ID [SIGNAL]")
    try:
        sig = parse_signal(pos[1]) if len(pos) == 2 else 15
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    kill(_store(root), pos[0], sig, all_processes=bool(opts.get("all")))
    return 0


def _cmd_delete(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import delete

    for warning in delete(_store(root), pos[0], force=bool(opts.get("force"))):
        log.write("warning", warning)
    return 0


def _cmd_list(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import list_containers

    items = list_containers(_store(root))
    fmt = opts.get("format", "table")
    if opts.get("quiet"):
        sys.stdout.write("".join(f"{c['id']}\n" for c in items))
    elif fmt == "json":
        import json

        sys.stdout.write(json.dumps(items) + "\n")
    elif fmt == "table":
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(c["id"], str(c["pid"]), c["status"], c["bundle"], c["created"], c["owner"] or "root") for c in items]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            sys.stdout.write("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() + "\n")
    else:
        raise UsageError(f"--format: {fmt!r} is not table or json")
    return 0


def _cmd_spec(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    import json

    from ketch.spec.runtime_defaults import default_config

    if opts.get("rootless"):
        raise UsageError("spec --rootless: rootless containers are not supported by ketch-runtime yet")
    path = os.path.join(opts.get("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise UsageError(f"{path} exists already: remove it first")
    with open(path, "x") as f:
        f.write(json.dumps(default_config(), indent="\t") + "\n")
    return 0


def _cmd_features(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    import json

    from ketch.runtime.features import features

    sys.stdout.write(json.dumps(features(), indent="    ") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
