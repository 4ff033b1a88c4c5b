"""``ketch run``, ``ps``, ``logs``, ``exec``, ``stop``, ``rm``...: the user's container commands.

Each command is published as a module ``ketch.cli.containers.<name>`` with ``run(args, options)``, the shape
``ketch.cli.main.COMMANDS`` expects. The work is done by :mod:`ketch.engine`; this module parses options,
prints, and turns expected failures into one line (and a hint) on stderr. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from ketch.cli.containers_args import EXIT_ENGINE, parser_for
from ketch.cli.main import GlobalOptions

__all__ = ["COMMANDS", "run_command"]

def _engine(o: GlobalOptions) -> Any:
    from ketch.engine import Engine, load_config

    cfg = load_config(o.config)
    if o.root_given or not cfg.source:
        cfg.root = o.root
    if o.run_root:
        cfg.run_root = o.run_root
    from ketch.cli.runtime_fork import spawn

    return Engine(cfg, spawn)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def _ago(stamp: str | None) -> str:
    if not stamp:
        return ""
    from datetime import UTC, datetime

    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    secs = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= size:
            return f"{secs // size} {unit} ago"
    return f"{max(secs, 0)} seconds ago"


def _human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    raise AssertionError


# -- run ---------------------------------------------------------------------------------------------------


def _options(a: argparse.Namespace) -> Any:
    from ketch.engine.errors import UsageError
    from ketch.engine.options import (
        RunOptions,
        parse_cpus,
        parse_env_file,
        parse_mount,
        parse_port,
        parse_size,
        parse_tmpfs,
    )

    env = []
    for f in a.env_file:
        env += parse_env_file(f)
    for e in a.env:
        if "=" not in e:
            value = os.environ.get(e)
            if value is None:
                continue  # docker: -e NAME passes NAME only when set
            e = f"{e}={value}"
        if not e.partition("=")[0]:
            raise UsageError(f"-e {e!r}: no variable name")
        env.append(e)
    seccomp = None
    for so in a.security_opt:
        key, _, value = so.partition("=")
        if key != "seccomp" or not value:
            raise UsageError(f"--security-opt {so!r}: only seccomp=PROFILE.json or seccomp=unconfined are supported")
        seccomp = value
    labels = {}
    for lab in a.label:
        k, _eq, v = lab.partition("=")
        if not k:
            raise UsageError(f"-l {lab!r}: no label name")
        labels[k] = v
    if a.pids_limit is not None and a.pids_limit <= 0:
        raise UsageError(f"--pids-limit {a.pids_limit}: must be positive")
    if a.tty and not a.detach and not os.isatty(0):
        raise UsageError("-t: standard input is not a terminal", hint="drop -t, or run from a terminal")
    return RunOptions(
        image=a.image, command=a.command or None, name=a.name, detach=a.detach, interactive=a.interactive,
        tty=a.tty, auto_remove=a.rm, env=env, workdir=a.workdir, user=a.user,
        mounts=[parse_mount(v) for v in a.volume] + [parse_tmpfs(t) for t in a.tmpfs],
        ports=[parse_port(p) for p in a.publish], network=a.network, hostname=a.hostname, dns=a.dns,
        memory=parse_size(a.memory, "--memory") if a.memory else None,
        cpus=parse_cpus(a.cpus) if a.cpus else None, pids_limit=a.pids_limit,
        cap_add=a.cap_add, cap_drop=a.cap_drop, privileged=a.privileged, read_only=a.read_only,
        seccomp=seccomp, entrypoint=a.entrypoint, runtime=a.runtime, platform=a.platform, pull=a.pull,
        labels=labels, default_seccomp=_default_seccomp,
    )  # fmt: skip


def _default_seccomp(capabilities: list[str]) -> dict[str, Any]:
    """Docker's default allow-list (the RuntimeDefault profile), widened by the container's capabilities."""
    from ketch.runtime.seccomp.default_profile import runtime_default_profile

    return runtime_default_profile(capabilities)


def _ensure_image(engine: Any, opts: Any, o: GlobalOptions) -> None:
    from ketch.engine.errors import ImageUnavailable

    present = True
    try:
        engine.resolve_image(opts.image, opts.platform)
    except ImageUnavailable:
        if opts.pull == "never":
            raise
        present = False
    if present and opts.pull != "always":
        return
    from ketch.cli.distribution import run_command as distribution

    args = [opts.image, "--hosts-dir", engine.config.hosts_dir, *(["--platform", opts.platform] if opts.platform else [])]
    pull_options = GlobalOptions(engine.root, True, o.run_root, o.config, o.debug)
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # the container's output alone goes to stdout
        pulled = distribution("pull", args, pull_options)
    if pulled != 0:
        raise ImageUnavailable(
            f"image {opts.image!r} is not here and pulling it failed (see above)",
            hint="check the name and the registry, or import the image with 'ketch image import'",
        )


def cmd_run(a: argparse.Namespace, o: GlobalOptions, create_only: bool = False) -> int:
    opts = _options(a)
    engine = _engine(o)
    _ensure_image(engine, opts, o)
    record = engine.create(opts)
    if create_only:
        sys.stdout.write(record.id + "\n")
        return 0
    if opts.detach:
        engine.start_detached(record)
        sys.stdout.write(record.id + "\n")
        return 0
    try:
        code: int = engine.run_foreground(record, interactive=opts.interactive or opts.tty)
    finally:
        if opts.auto_remove:
            engine.remove(record.id, force=True)
    return code


def cmd_create(a: argparse.Namespace, o: GlobalOptions) -> int:
    return cmd_run(a, o, create_only=True)


# -- listing and inspecting ---------------------------------------------------------------------------------


def _status(r: Any) -> str:
    if r.state == "running":
        return f"Up {_ago(r.started_at).removesuffix(' ago')}"
    if r.state == "created":
        return "Created"
    return f"Exited ({r.exit_code}) {_ago(r.finished_at)}"


def cmd_ps(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    records = engine.containers_list(all_=a.all)
    if a.quiet:
        sys.stdout.write("".join(r.id[:12] + "\n" for r in records))
        return 0
    if a.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in records], indent=2) + "\n")
        return 0
    rows = []
    for r in records:
        cmd = " ".join(r.command)
        rows.append([r.id[:12], r.image, cmd if len(cmd) <= 30 else cmd[:27] + "...", _ago(r.created),
                     _status(r), ", ".join(str(p) for p in r.ports), r.name])  # fmt: skip
    sys.stdout.write(_table(rows, ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]))
    return 0


def cmd_inspect(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.engine.errors import NotFound

    engine = _engine(o)
    out = []
    for ref in a.names:
        try:
            r = engine.find(ref)
        except NotFound:
            if len(a.names) == 1 and a.type != "container":
                # not a container: the registry's manifest inspect (``ketch inspect IMAGE``)
                from ketch.cli.distribution import run_command as distribution

                return distribution("inspect", [ref, *a.rest], o)
            raise
        data = r.to_json()
        try:
            with open(os.path.join(r.bundle, "config.json")) as f:
                data["spec"] = json.load(f)
        except OSError:
            pass
        out.append(data)
    if a.format:
        for item in out:
            sys.stdout.write(_format(a.format, item) + "\n")
        return 0
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


def _format(template: str, data: dict[str, Any]) -> str:
    """``--format '{{.state}} {{.exit_code}}'``: fields of the record (dotted paths)."""
    import re

    def field(m: re.Match[str]) -> str:
        value: Any = data
        for part in m.group(1).split("."):
            if not part:
                continue
            value = value.get(part) if isinstance(value, dict) else None
        return json.dumps(value) if isinstance(value, (dict, list)) else ("" if value is None else str(value))

    return re.sub(r"\{\{\s*\.([\w.]*)\s*\}\}", field, template)


def cmd_logs(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.engine.logs import follow_log, log_size, parse_since, read_log

    engine = _engine(o)
    r = engine.find(a.container)
    since = parse_since(a.since) if a.since else None
    if r.monitor == "cli":
        sys.stderr.write(f"ketch logs: container {r.name} ran in the foreground; its output went to the terminal\n")
    entries = read_log(r.log_path)
    if since:
        entries = [e for e in entries if e.time >= since]
    if a.tail is not None:
        entries = entries[-a.tail :] if a.tail > 0 else []

    def emit(e: Any) -> None:
        stream = sys.stderr if e.stream == "stderr" else sys.stdout
        stream.write((e.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ ") if a.timestamps else "") + e.text)
        stream.flush()

    for e in entries:
        emit(e)
    if a.follow:
        offset = log_size(r.log_path)

        def alive() -> bool:
            return bool(engine.refresh(engine.containers.load(r.id)).state == "running")

        for e in follow_log(r.log_path, offset, alive):
            if since is None or e.time >= since:
                emit(e)
    return 0


def cmd_exec(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.engine.errors import UsageError

    engine = _engine(o)
    r = engine.find(a.container)
    if a.tty and not os.isatty(0):
        raise UsageError("-t: standard input is not a terminal", hint="drop -t, or run from a terminal")
    argv = engine.exec_argv(r, a.command, tty=a.tty, env=a.env, user=a.user, workdir=a.workdir)
    stdin = None if (a.interactive or a.tty) else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdin=stdin)
    import signal

    def forward(signum: int, frame: Any) -> None:
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 128 - code if code < 0 else code


# -- lifecycle ---------------------------------------------------------------------------------------------


def _each(refs: list[str], action: Callable[[str], Any]) -> int:
    from ketch.engine.errors import EngineError

    status = 0
    for ref in refs:
        try:
            action(ref)
            sys.stdout.write(ref + "\n")
        except EngineError as e:
            _report("", e)
            status = 1
    return status


def cmd_start(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    return _each(a.containers, engine.start)


def cmd_stop(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    return _each(a.containers, lambda ref: engine.stop(ref, a.time))


def cmd_restart(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    return _each(a.containers, lambda ref: (engine.stop(ref, a.time), engine.start(ref)))


def cmd_kill(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    return _each(a.containers, lambda ref: engine.kill(ref, a.signal))


def cmd_rm(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    return _each(a.containers, lambda ref: engine.remove(ref, force=a.force))


def cmd_wait(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    for ref in a.containers:
        code = engine.wait(ref)
        sys.stdout.write(f"{code}\n")
    return 0


def cmd_port(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    r = engine.find(a.container)
    for p in r.ports:
        sys.stdout.write(f"{p.container_port}/{p.protocol} -> {p.host_ip or '0.0.0.0'}:{p.host_port}\n")
    return 0


def cmd_top(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.engine.errors import Conflict

    engine = _engine(o)
    r = engine.find(a.container)
    if r.state != "running":
        raise Conflict(f"container {r.name} is not running")
    proc = engine.runtime(r.runtime).call("ps", "--format", "json", r.id)
    pids = json.loads(proc.stdout or "[]")
    rows = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
            with open(f"/proc/{pid}/cmdline", "rb") as fb:
                cmd = fb.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rows.append([str(pid), status.get("PPid", "?").strip(), status.get("Uid", "?").split()[0], cmd])
    sys.stdout.write(_table(rows, ["PID", "PPID", "UID", "CMD"]))
    return 0


def cmd_stats(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.engine.stats import read_usage

    engine = _engine(o)
    records = [engine.find(ref) for ref in a.containers] if a.containers else engine.containers_list(all_=False)
    first = {r.id: (read_usage(f"/ketch-engine/{r.id}"), time.monotonic()) for r in records}
    time.sleep(0.5)
    rows, js = [], []
    for r in records:
        u = read_usage(f"/ketch-engine/{r.id}")
        u0, t0 = first[r.id]
        cpu = None
        if u.cpu_ns is not None and u0.cpu_ns is not None:
            cpu = 100.0 * (u.cpu_ns - u0.cpu_ns) / ((time.monotonic() - t0) * 1e9)
        js.append({"id": r.id, "name": r.name, "cpu_percent": cpu, "cpu_ns": u.cpu_ns,
                   "memory_bytes": u.memory_bytes, "memory_limit": u.memory_limit, "pids": u.pids})  # fmt: skip
        mem = _human(u.memory_bytes) + (" / " + _human(u.memory_limit) if u.memory_limit else "")
        rows.append([r.id[:12], r.name, "-" if cpu is None else f"{cpu:.2f}%", mem,
                     "-" if u.pids is None else str(u.pids)])  # fmt: skip
    if a.format == "json":
        sys.stdout.write(json.dumps(js, indent=2) + "\n")
    else:
        sys.stdout.write(_table(rows, ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"]))
    return 0


def cmd_cp(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.engine.copy import copy_in, copy_out
    from ketch.engine.errors import UsageError

    engine = _engine(o)

    def split(text: str) -> tuple[str | None, str]:
        head, sep, tail = text.partition(":")
        if sep and not head.startswith(("/", ".")):
            return head, tail
        return None, text

    (src_ctr, src), (dst_ctr, dst) = split(a.source), split(a.dest)
    if (src_ctr is None) == (dst_ctr is None):
        raise UsageError("cp: exactly one of SOURCE and DEST must be CONTAINER:PATH")
    if src_ctr is not None:
        r = engine.find(src_ctr)
        copy_out(os.path.join(r.bundle, "rootfs"), src, dst)
    else:
        assert dst_ctr is not None
        r = engine.find(dst_ctr)
        copy_in(src, os.path.join(r.bundle, "rootfs"), dst)
    return 0


def cmd_commit(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.commit import commit_changes
    from ketch.image.snapshot import snapshotters

    engine = _engine(o)
    r = engine.find(a.container)
    snap = next(s for s in snapshotters(engine.root) if s.name == r.snapshotter)
    desc = commit_changes(engine.images, r.image, snap.changes_dir(r.id), a.name, upper=snap.name == "overlay",
                          comment=a.message, author=a.author)  # fmt: skip
    sys.stdout.write(f"{desc.digest}\n")
    return 0


def cmd_prune(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.gc import collect

    engine = _engine(o)
    removed = 0
    for r in engine.containers_list(all_=True):
        if r.state != "running":
            engine.remove(r.id)
            removed += 1
    result = collect(engine.images)
    sys.stdout.write(
        f"removed {removed} containers, {len(result.blobs)} blobs, {len(result.snapshots)} snapshots, "
        f"{_human(result.bytes)}\n"
    )
    return 0


def cmd_info(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch import __version__
    from ketch.engine.config import KNOWN_RUNTIMES
    from ketch.engine.errors import EngineError
    from ketch.engine.stats import cgroup_mode
    from ketch.image.snapshot import overlay_supported
    from ketch.image.snapshot.overlay import tree_size

    engine = _engine(o)
    runtimes = {}
    for name in KNOWN_RUNTIMES:
        try:
            runtimes[name] = engine.config.runtime_path(name)
        except EngineError:
            runtimes[name] = None
    usage = {}
    for part in ("content", "snapshots", "containers", "volumes"):
        usage[part] = tree_size(os.path.join(engine.root, part))
    records = engine.containers_list(all_=True)
    info = {
        "version": __version__,
        "config": engine.config.to_json(),
        "cgroup": cgroup_mode(),
        "snapshotter": "overlay" if overlay_supported() else "copy",
        "runtimes": runtimes,
        "conmon": shutil.which("conmon"),
        "containers": {"total": len(records), "running": sum(r.state == "running" for r in records)},
        "images": len(engine.images.images()),
        "storage_bytes": usage,
    }
    if a.format == "json":
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return 0
    c = info["config"]
    lines = [
        f"Version:          {__version__}",
        f"Config file:      {c['config_file'] or '(none; defaults)'}",
        f"Storage root:     {c['storage']['root']}",
        f"Run root:         {c['storage']['run_root']}",
        f"Default runtime:  {c['runtime']['default']}",
        "Runtimes:         " + ", ".join(f"{k}={v or 'not found'}" for k, v in runtimes.items()),
        f"Monitor:          {info['conmon'] or 'conmon not found'}",
        f"Registries hosts: {c['registries']['hosts_dir']}",
        f"CNI plugins:      {c['network']['cni_plugin_dir']} (default subnet {c['network']['default_subnet']})",
        f"Cgroups:          {info['cgroup']}",
        f"Snapshotter:      {info['snapshotter']}",
        f"Containers:       {info['containers']['total']} ({info['containers']['running']} running)",
        f"Images:           {info['images']}",
        "Storage:          " + ", ".join(f"{k} {_human(v)}" for k, v in usage.items()),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_volume(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    if a.action == "create":
        sys.stdout.write(engine.volumes.create(a.name)["name"] + "\n")
    elif a.action == "ls":
        names = engine.volumes.names()
        if a.format == "json":
            sys.stdout.write(json.dumps([engine.volumes.inspect(n) for n in names], indent=2) + "\n")
        else:
            sys.stdout.write(_table([[n] for n in names], ["VOLUME NAME"]))
    elif a.action == "inspect":
        sys.stdout.write(json.dumps(engine.volumes.inspect(a.name), indent=2) + "\n")
    elif a.action == "rm":
        engine.volumes.remove(a.name, engine.users_of_volume(a.name))
        sys.stdout.write(a.name + "\n")
    return 0


def cmd_network(a: argparse.Namespace, o: GlobalOptions) -> int:
    engine = _engine(o)
    if a.action == "create":
        conf = engine.networks.create(a.name, a.subnet)
        sys.stdout.write(conf["name"] + "\n")
    elif a.action == "ls":
        rows = []
        for n in engine.networks.names():
            conf = engine.networks.get(n)
            plugin = conf["plugins"][0]
            rows.append([n, plugin["bridge"], plugin["ipam"]["ranges"][0][0]["subnet"]])
        if "bridge" not in engine.networks.names():
            rows.append(["bridge", "ketch0", engine.config.default_subnet + " (created on first use)"])
        rows += [["host", "-", "-"], ["none", "-", "-"]]
        sys.stdout.write(_table(rows, ["NAME", "BRIDGE", "SUBNET"]))
    elif a.action == "inspect":
        sys.stdout.write(json.dumps(engine.networks.get(a.name), indent=2) + "\n")
    elif a.action == "rm":
        engine.networks.remove(a.name, engine.users_of_network(a.name))
        sys.stdout.write(a.name + "\n")
    return 0


COMMANDS: dict[str, str] = {
    "commit": "make an image of a container's changes",
    "cp": "copy files between a container and the host",
    "create": "create a container without starting it",
    "exec": "run a command in a running container",
    "info": "configuration, runtimes, cgroups, storage",
    "inspect": "show a container (or an image's manifest)",
    "kill": "send a signal to containers",
    "logs": "show a detached container's output",
    "network": "manage networks: create, ls, inspect, rm",
    "port": "list a container's published ports",
    "prune": "remove stopped containers and unused image content",
    "ps": "list containers",
    "restart": "restart containers",
    "rm": "remove containers",
    "run": "run a command in a new container",
    "start": "start stopped containers",
    "stats": "CPU, memory and pids of containers",
    "stop": "stop containers",
    "top": "list a container's processes",
    "volume": "manage volumes: create, ls, inspect, rm",
    "wait": "wait for containers to exit",
}

# command -> the function doing it (parsers in containers_args.py)
_HANDLERS: dict[str, Callable[[argparse.Namespace, GlobalOptions], int]] = {
    "commit": cmd_commit,
    "cp": cmd_cp,
    "create": cmd_create,
    "exec": cmd_exec,
    "info": cmd_info,
    "inspect": cmd_inspect,
    "kill": cmd_kill,
    "logs": cmd_logs,
    "network": cmd_network,
    "port": cmd_port,
    "prune": cmd_prune,
    "ps": cmd_ps,
    "restart": cmd_restart,
    "rm": cmd_rm,
    "run": cmd_run,
    "start": cmd_start,
    "stats": cmd_stats,
    "stop": cmd_stop,
    "top": cmd_top,
    "volume": cmd_volume,
    "wait": cmd_wait,
}

_NEEDS_NAME = {"volume": ("create", "inspect", "rm"), "network": ("create", "inspect", "rm")}


def _print_traceback() -> None:
    import traceback  # --debug only: loading it costs every call milliseconds

    traceback.print_exc()


def _report(command: str, e: Exception) -> None:
    prefix = f"ketch {command}: " if command else "ketch: "
    sys.stderr.write(f"{prefix}{e}\n")
    hint = getattr(e, "hint", None)
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def run_command(command: str, args: list[str], options: GlobalOptions) -> int:
    from ketch.engine.errors import EngineError, UsageError
    from ketch.image.errors import ImageError
    from ketch.spec.image import ImageSpecError
    from ketch.spec.reference import InvalidReference

    p = parser_for(command)
    a = p.parse_intermixed_args(args) if command in _NEEDS_NAME else p.parse_args(args)
    if command in _NEEDS_NAME and a.action in _NEEDS_NAME[command] and not a.name:
        p.error(f"{a.action} needs a name")
    failure = EXIT_ENGINE if command in ("run", "create") else 1
    try:
        result: int = _HANDLERS[command](a, options)
        return result
    except UsageError as e:
        if options.debug:
            _print_traceback()
        _report(command, e)
        return EXIT_ENGINE if command in ("run", "create") else 2
    except (EngineError, ImageError, ImageSpecError, InvalidReference) as e:
        if options.debug:
            _print_traceback()
        _report(command, e)
        return failure
    except OSError as e:
        if options.debug:
            _print_traceback()
        where = f": {e.filename}" if e.filename else ""
        _report(command, Exception(f"{e.strerror or e}{where}"))
        if e.errno in (1, 13) and os.geteuid() != 0:
            sys.stderr.write("hint: container commands need root\n")
        return failure
    except KeyboardInterrupt:
        sys.stderr.write(f"ketch {command}: interrupted\n")
        return 130


def run_container(args: list[str], options: GlobalOptions) -> int:
    """``ketch container COMMAND ...``: every container command, and the only way to ``inspect`` a
    container while ``ketch inspect`` belongs to the registry client."""
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write("usage: ketch container COMMAND [ARGS...]\n\nCommands:\n")
        sys.stdout.write("".join(f"  {n:<8}  {t}\n" for n, t in sorted(COMMANDS.items())))
        return 0
    if args[0] not in COMMANDS:
        sys.stderr.write(f"ketch container: unknown command {args[0]!r}; see 'ketch container --help'\n")
        return 2
    return run_command(args[0], args[1:], options)


def _publish_commands() -> None:
    container = types.ModuleType(f"{__name__}.container", "ketch container COMMAND (see ketch.cli.containers)")
    container.run = run_container  # type: ignore[attr-defined]
    sys.modules[container.__name__] = container
    for name in COMMANDS:
        module = types.ModuleType(f"{__name__}.{name}", f"ketch {name} (see ketch.cli.containers)")

        def run(args: list[str], options: GlobalOptions, _name: str = name) -> int:
            return run_command(_name, args, options)

        module.run = run  # type: ignore[attr-defined]
        sys.modules[module.__name__] = module


_publish_commands()
