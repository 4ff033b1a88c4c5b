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
  exec       run a new process in a running container  (--tty, --detach, --env, --user, --process, ...)
  pause      freeze every process of a container
  resume     thaw a paused container
  ps         the container's processes (--format table|json)
  update     change a running container's resources    (--memory, --cpu-quota, --pids-limit, -r FILE)
  events     resource usage and OOM events as JSON     (--stats once, or a stream every --interval)
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
    "exec": (
        {
            "console-socket": ("console_socket", True),
            "cwd": ("cwd", True),
            "env": ("env[]", True),
            "e": ("env[]", True),
            "tty": ("tty", False),
            "t": ("tty", False),
            "user": ("user", True),
            "u": ("user", True),
            "additional-gids": ("gids[]", True),
            "g": ("gids[]", True),
            "process": ("process", True),
            "p": ("process", True),
            "detach": ("detach", False),
            "d": ("detach", False),
            "pid-file": ("pid_file", True),
            "process-label": ("process_label", True),
            "apparmor": ("apparmor", True),
            "no-new-privs": ("no_new_privs", False),
            "cap": ("cap[]", True),
            "c": ("cap[]", True),
            "preserve-fds": ("preserve_fds", True),
            "ignore-paused": ("ignore_paused", False),
            "help": ("help", False),
            "h": ("help", False),
        },
        -1,
        "exec [--tty] [--detach] [--env K=V] [--user UID[:GID]] [--cwd DIR] [--cap CAP] [--process FILE] ID [CMD ARGS...]",
    ),
    "pause": ({"help": ("help", False)}, 1, "pause ID"),
    "resume": ({"help": ("help", False)}, 1, "resume ID"),
    "ps": ({"format": ("format", True), "f": ("format", True), "help": ("help", False)}, -1,
           "ps [--format table|json] ID [ps options]"),
    "update": (
        {
            "resources": ("resources", True),
            "r": ("resources", True),
            "memory": ("memory", True),
            "memory-reservation": ("memory_reservation", True),
            "memory-swap": ("memory_swap", True),
            "kernel-memory": ("kernel_memory", True),
            "kernel-memory-tcp": ("kernel_memory_tcp", True),
            "cpu-shares": ("cpu_shares", True),
            "cpu-quota": ("cpu_quota", True),
            "cpu-period": ("cpu_period", True),
            "cpu-rt-runtime": ("cpu_rt_runtime", True),
            "cpu-rt-period": ("cpu_rt_period", True),
            "cpuset-cpus": ("cpuset_cpus", True),
            "cpuset-mems": ("cpuset_mems", True),
            "pids-limit": ("pids_limit", True),
            "blkio-weight": ("blkio_weight", True),
            "help": ("help", False),
        },
        1,
        "update [--memory BYTES] [--cpu-quota N] [--pids-limit N] ... [-r resources.json] ID",
    ),
    "events": ({"stats": ("stats", False), "interval": ("interval", True), "help": ("help", False)}, 1,
               "events [--stats] [--interval 5s] ID"),
}


class UsageError(Exception):
    pass


def _parse(
    args: list[str], table: dict[str, tuple[str, bool]], stop_at_positional: bool, keep_after: int = 0
) -> tuple[dict[str, Any], list[str]]:
    """Options from ``table`` and the positional words. ``keep_after``: once that many positional words are
    seen, the rest is taken as is (exec ID CMD ARGS..., where ARGS may look like options)."""
    opts: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i + 1 :])
            break
        if keep_after and len(rest) >= keep_after:
            rest.extend(args[i:])
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
                if dest.endswith("[]"):
                    opts.setdefault(dest[:-2], []).append(value)
                else:
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
        opts, pos = _parse(rest[1:], table, False, 1 if command == "exec" else 0)
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


def _cmd_exec(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import load
    from ketch.runtime.errors import ConfigInvalid, InvalidState
    from ketch.runtime.exec_process import build_exec_process
    from ketch.runtime.process.exec import ExecOptions, exec_process

    if not pos:
        raise UsageError("exec: usage: ketch-runtime " + _COMMANDS["exec"][2])
    from ketch.runtime.cgroups.warm import warm_attach_lock

    warm_attach_lock()  # the new process joins the container's cgroup: start the kernel's grace period now
    if opts.get("apparmor") or opts.get("process_label"):
        raise ConfigInvalid("exec: --apparmor/--process-label: neither AppArmor nor SELinux is enabled on this host")
    state, status = load(_store(root), pos[0])
    if status != "running":
        raise InvalidState(f'container "{pos[0]}" is {status}: exec needs a running container')
    process = build_exec_process(
        state["config"].get("process", {}),
        process_file=opts.get("process"),
        args=pos[1:],
        tty=bool(opts.get("tty")),
        cwd=opts.get("cwd"),
        env=opts.get("env", []),
        user=opts.get("user"),
        additional_gids=opts.get("gids", []),
        caps=opts.get("cap", []),
        no_new_privs=bool(opts.get("no_new_privs")),
    )
    detach = bool(opts.get("detach"))
    if process.get("terminal") and detach and not opts.get("console_socket"):
        raise UsageError("exec: --tty with --detach needs --console-socket")
    preserve = _create_options({"preserve_fds": opts.get("preserve_fds", "0")}, gopts).preserve_fds
    console_peer = -1
    xopts = ExecOptions(
        console_socket=opts.get("console_socket"), pid_file=opts.get("pid_file"), preserve_fds=preserve, detach=detach
    )
    if process.get("terminal") and not detach and not opts.get("console_socket"):
        import _socket

        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        xopts.console_fd, console_peer = a.detach(), b.detach()
    try:
        pid = exec_process(state, process, xopts, os.path.abspath(root))
    finally:
        if xopts.console_fd >= 0:
            os.close(xopts.console_fd)
    if detach:
        return 0
    from ketch.runtime.run import wait_for

    master = -1
    if console_peer >= 0:
        from ketch.linux.term import recv_fd

        _payload, master = recv_fd(console_peer)
        os.close(console_peer)
    return wait_for(pid, master)


def _cmd_pause(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import pause

    pause(_store(root), pos[0])
    return 0


def _cmd_resume(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import resume

    resume(_store(root), pos[0])
    return 0


def _cmd_ps(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import processes

    if not pos:
        raise UsageError("ps: usage: ketch-runtime " + _COMMANDS["ps"][2])
    pids = processes(_store(root), pos[0])
    fmt = opts.get("format", "table")
    if fmt == "json":
        from ketch._common.fastjson import dumps

        sys.stdout.write(dumps(pids) + "\n")
        return 0
    if fmt != "table":
        raise UsageError(f"--format: {fmt!r} is not table or json")
    import subprocess

    out = subprocess.run(["ps", *(pos[1:] or ["-ef"])], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise UsageError(f"ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise UsageError("ps: its output has no PID column")
    column = header.index("PID")
    wanted = set(pids)
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            sys.stdout.write(line + "\n")
    return 0


def _size(value: str, flag: str) -> int:
    """Bytes from "512", "64k", "100m", "1g" (runc's --memory accepts the same); -1 means unlimited."""
    text = value.strip().lower()
    if text == "-1":
        return -1
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text.endswith("ib") or (text.endswith("b") and len(text) > 1 and text[-2] in units):
        text = text[:-2] if text.endswith("ib") else text[:-1]
    mult = 1
    if text and text[-1] in units:
        mult = units[text[-1]]
        text = text[:-1]
    try:
        return int(float(text) * mult)
    except ValueError:
        raise UsageError(f"{flag}: {value!r} is not a size (e.g. 512m)") from None


def _number(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{flag}: {value!r} is not a number") from None


def _cmd_update(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch.runtime.container import update

    resources: dict[str, Any] = {}
    if opts.get("resources"):
        from ketch._common import fastjson

        path = opts["resources"]
        try:
            if path == "-":
                raw = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as f:
                    raw = f.read()
            resources = fastjson.loads(raw)
        except OSError as exc:
            raise UsageError(f"--resources {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(f"--resources {path}: invalid JSON: {exc}") from None
        if not isinstance(resources, dict):
            raise UsageError(f"--resources {path}: must be a JSON object (linux.resources)")
    memory = resources.setdefault("memory", {})
    cpu = resources.setdefault("cpu", {})
    for flag, key, section in (
        ("memory", "limit", memory),
        ("memory_reservation", "reservation", memory),
        ("memory_swap", "swap", memory),
        ("kernel_memory", "kernel", memory),
        ("kernel_memory_tcp", "kernelTCP", memory),
    ):
        if opts.get(flag) is not None:
            section[key] = _size(opts[flag], "--" + flag.replace("_", "-"))
    for flag, key in (
        ("cpu_shares", "shares"),
        ("cpu_quota", "quota"),
        ("cpu_period", "period"),
        ("cpu_rt_runtime", "realtimeRuntime"),
        ("cpu_rt_period", "realtimePeriod"),
    ):
        if opts.get(flag) is not None:
            cpu[key] = _number(opts[flag], "--" + flag.replace("_", "-"))
    for flag, key in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if opts.get(flag) is not None:
            cpu[key] = opts[flag]
    if opts.get("pids_limit") is not None:
        resources["pids"] = {"limit": _number(opts["pids_limit"], "--pids-limit")}
    if opts.get("blkio_weight") is not None:
        resources["blockIO"] = {"weight": _number(opts["blkio_weight"], "--blkio-weight")}
    for key in ("memory", "cpu"):
        if not resources[key]:
            del resources[key]
    if not resources:
        raise UsageError("update: nothing to change; see ketch-runtime update --help")
    update(_store(root), pos[0], resources)
    return 0


def _cmd_events(root: str, opts: dict[str, Any], pos: list[str], gopts: dict[str, Any], log: _Log) -> int:
    from ketch._common.fastjson import dumps
    from ketch.runtime.container import events, stats

    if opts.get("stats"):
        sys.stdout.write(dumps({"type": "stats", "id": pos[0], "data": stats(_store(root), pos[0])}) + "\n")
        return 0
    text = str(opts.get("interval", "5s")).strip()
    try:
        interval = float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))
        if interval <= 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--interval: {text!r} is not a duration (e.g. 5s, 500ms)") from None
    for event in events(_store(root), pos[0], interval):
        sys.stdout.write(dumps(event) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
