"""What the user asked for with ``ketch run``, parsed and checked before anything is created."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ketch._common.model import field, model
from ketch.engine.errors import UsageError
from ketch.engine.records import PortMapping

__all__ = [
    "Mount",
    "RunOptions",
    "parse_cpus",
    "parse_env_file",
    "parse_mount",
    "parse_port",
    "parse_size",
]

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([bkmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@model
class Mount:
    kind: str  # bind, volume, tmpfs
    source: str  # host path, volume name, or "" for tmpfs
    destination: str
    readonly: bool = False
    options: list[str] = field(default_factory=list)


@model
class RunOptions:
    image: str
    command: list[str] | None = None
    name: str | None = None
    detach: bool = False
    interactive: bool = False
    tty: bool = False
    auto_remove: bool = False
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    ports: list[PortMapping] = field(default_factory=list)
    network: str = "bridge"
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    memory: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    read_only: bool = False
    seccomp: str | None = None  # path of a profile, "unconfined", or None (the default profile)
    # the RuntimeDefault profile for a capability set; supplied by the caller (the engine does not import
    # ketch.runtime, where the profile lives): ketch.cli passes ketch.runtime.seccomp.runtime_default_profile
    default_seccomp: Callable[[list[str]], dict[str, Any]] | None = None
    entrypoint: str | None = None
    runtime: str | None = None
    platform: str | None = None
    pull: str = "missing"
    labels: dict[str, str] = field(default_factory=dict)


def parse_size(text: str, what: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise UsageError(f"{what}: {text!r} is not a size (e.g. 64m, 1g, 1048576)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise UsageError(f"{what}: {text!r} must be more than zero")
    return value


def parse_cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--cpus: {text!r} is not a number (e.g. 0.5, 2)") from None
    if not 0 < value <= 1024:
        raise UsageError(f"--cpus: {text!r} must be between 0 and 1024")
    return value


def parse_port(text: str) -> PortMapping:
    """``[IP:]HOST:CONTAINER[/tcp|udp]`` (a bare ``CONTAINER`` port is not supported: say where)."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise UsageError(f"-p {text}: protocol {proto!r} is not tcp or udp")
    parts = spec.rsplit(":", 2)
    if len(parts) == 2:
        host_ip, host, ctr = "", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, ctr = parts
    else:
        raise UsageError(f"-p {text}: expected HOST_PORT:CONTAINER_PORT[/PROTO]")
    ports = []
    for p in (host, ctr):
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise UsageError(f"-p {text}: port {p!r} is not a number from 1 to 65535")
        ports.append(int(p))
    return PortMapping(host_ip, ports[0], ports[1], proto)


def parse_mount(text: str) -> Mount:
    """``-v SRC:DST[:ro|rw]``: SRC an absolute host path (bind) or a volume name."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"-v {text}: expected SOURCE:DESTINATION[:ro]")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise UsageError(f"-v {text}: mode {mode!r} is not ro or rw")
    if not dst.startswith("/"):
        raise UsageError(f"-v {text}: destination {dst!r} is not an absolute path")
    if not src:
        raise UsageError(f"-v {text}: empty source")
    kind = "bind" if src.startswith("/") else "volume"
    if kind == "volume" and not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", src):
        raise UsageError(f"-v {text}: {src!r} is neither an absolute path nor a volume name")
    return Mount(kind, src, dst, readonly=mode == "ro")


def parse_tmpfs(text: str) -> Mount:
    dst, _, opts = text.partition(":")
    if not dst.startswith("/"):
        raise UsageError(f"--tmpfs {text}: {dst!r} is not an absolute path")
    return Mount("tmpfs", "", dst, options=[o for o in opts.split(",") if o])


def parse_env_file(path: str) -> list[str]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"--env-file {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.partition("=")[0] == "":
            raise UsageError(f"--env-file {path}:{n}: {line!r} has no variable name")
        out.append(line)
    return out
