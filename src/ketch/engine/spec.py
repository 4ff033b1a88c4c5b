"""The runtime config.json of a container: the image's (image/convert.py) plus the user's ``run`` options."""

from __future__ import annotations

import json
import resource
from typing import Any

from ketch.engine.errors import UsageError
from ketch.engine.options import RunOptions
from ketch.image.convert import runtime_config
from ketch.spec.image import ImageConfig

__all__ = ["DEFAULT_CAPS", "build_config"]

# The capability set Docker and podman give containers by default (moby oci/caps/defaults.go).
DEFAULT_CAPS = [
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
]
ALL_CAPS = [
    "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETUID", "CAP_SYSLOG", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE",
    "CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_WAKE_ALARM",
]  # fmt: skip

# Device nodes every container gets (runc's AllowedDevices): null, zero, full, random, urandom, tty, ptmx.
_DEFAULT_DEVICES = [
    ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0), ("c", 5, 2), ("c", 136, -1),
]  # fmt: skip


# capability numbers (linux/capability.h), for reading /proc/self/status
_CAP_NUMBERS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]  # fmt: skip


def host_capabilities() -> list[str]:
    """What --privileged can give: every capability this process holds (a container cannot get more)."""
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("CapEff:"))
    except (OSError, StopIteration):
        return list(DEFAULT_CAPS)
    mask = int(line.split()[1], 16)
    return sorted(name for bit, name in enumerate(_CAP_NUMBERS) if mask & (1 << bit))


def _cap_name(text: str) -> str:
    name = text.upper()
    if not name.startswith("CAP_"):
        name = "CAP_" + name
    if name != "CAP_ALL" and name not in ALL_CAPS:
        raise UsageError(f"unknown capability {text!r}", hint="names as in capabilities(7), e.g. NET_ADMIN")
    return name


def capabilities(opts: RunOptions) -> list[str]:
    if opts.privileged:
        return host_capabilities()
    caps = set(DEFAULT_CAPS)
    drops = [_cap_name(c) for c in opts.cap_drop]
    adds = [_cap_name(c) for c in opts.cap_add]
    if "CAP_ALL" in drops:
        caps.clear()
    caps -= set(drops)
    caps |= set(ALL_CAPS) if "CAP_ALL" in adds else set(adds)
    return sorted(caps)


def _user(text: str) -> dict[str, Any] | None:
    """``-u UID[:GID]`` numerically; names are resolved by convert through the image's /etc/passwd."""
    uid, _, gid = text.partition(":")
    if uid.isdigit() and (not gid or gid.isdigit()):
        return {"uid": int(uid), "gid": int(gid) if gid else 0}
    return None


def build_config(
    image: ImageConfig,
    rootfs: str,
    opts: RunOptions,
    *,
    container_id: str,
    netns: str | None,
    hostname: str,
    extra_mounts: list[dict[str, Any]],
) -> dict[str, Any]:
    """The config for ``opts`` over ``image`` whose root is (mounted) at ``rootfs``.

    ``netns``: a network namespace path to join (bridge networks), None for a fresh empty one (``none``),
    ``"host"`` for the host's. ``extra_mounts``: binds, volumes, tmpfs, resolv.conf and hosts, already in
    runtime-spec form.
    """
    patched = image
    if opts.entrypoint is not None or (opts.user is not None and _user(opts.user) is None):
        data = image.to_json()
        cc = dict(data.get("config") or {})
        if opts.entrypoint is not None:
            cc["Entrypoint"] = [opts.entrypoint] if opts.entrypoint else None
            if opts.command is None:
                cc["Cmd"] = None  # docker: --entrypoint resets the image's Cmd
        if opts.user is not None and _user(opts.user) is None:
            cc["User"] = opts.user
        data["config"] = cc
        patched = ImageConfig.from_json(data)
    cfg = runtime_config(patched, rootfs, terminal=opts.tty, args=opts.command, volumes="tmpfs")
    process = cfg["process"]
    numeric = _user(opts.user) if opts.user else None
    if numeric is not None:
        process["user"] = numeric
    if opts.env:
        names = {e.partition("=")[0] for e in opts.env}
        process["env"] = [e for e in process["env"] if e.partition("=")[0] not in names] + list(opts.env)
    if opts.workdir:
        if not opts.workdir.startswith("/"):
            raise UsageError(f"-w {opts.workdir}: the working directory must be an absolute path")
        process["cwd"] = opts.workdir
    caps = capabilities(opts)
    process["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    process["capabilities"]["ambient"] = []
    process["noNewPrivileges"] = not opts.privileged
    # as many open files as this host lets us give (raising a hard limit needs CAP_SYS_RESOURCE)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)
    process["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}]
    cfg["hostname"] = hostname
    cfg["root"] = {"path": rootfs, "readonly": opts.read_only}

    linux = cfg["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    if netns != "host":
        namespaces.append({"type": "network", "path": netns} if netns else {"type": "network"})
    linux["namespaces"] = namespaces
    linux["cgroupsPath"] = f"/ketch-engine/{container_id}"
    resources: dict[str, Any] = {}
    if opts.privileged:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []
    else:
        resources["devices"] = [{"allow": False, "access": "rwm"}] + [
            {"allow": True, "type": t, "major": ma, **({"minor": mi} if mi >= 0 else {}), "access": "rwm"}
            for t, ma, mi in _DEFAULT_DEVICES
        ]
    if opts.memory is not None:
        resources["memory"] = {"limit": opts.memory}
    if opts.cpus is not None:
        resources["cpu"] = {"quota": int(opts.cpus * 100000), "period": 100000}
    if opts.pids_limit is not None:
        resources["pids"] = {"limit": opts.pids_limit}
    linux["resources"] = resources
    if opts.seccomp and opts.seccomp != "unconfined" and not opts.privileged:
        try:
            with open(opts.seccomp, "rb") as f:
                linux["seccomp"] = json.load(f)
        except OSError as e:
            raise UsageError(f"--security-opt seccomp={opts.seccomp}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise UsageError(f"--security-opt seccomp={opts.seccomp}: not JSON: {e}") from None
        if not isinstance(linux["seccomp"], dict) or "defaultAction" not in linux["seccomp"]:
            raise UsageError(
                f"--security-opt seccomp={opts.seccomp}: not a runtime-spec seccomp object (no defaultAction)"
            )
    elif opts.seccomp is None and not opts.privileged and opts.default_seccomp is not None:
        linux["seccomp"] = opts.default_seccomp(caps)

    mounts = [m for m in cfg["mounts"] if m["destination"] not in {e["destination"] for e in extra_mounts}]
    if opts.read_only:
        # /run and /tmp stay writable, as with docker run --read-only
        taken = {m["destination"] for m in mounts} | {e["destination"] for e in extra_mounts}
        for dest in ("/tmp", "/run"):
            if dest not in taken:
                mounts.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "nodev", "mode=1777"]})  # fmt: skip
    cfg["mounts"] = mounts + extra_mounts
    cfg["annotations"]["io.ketch.container.id"] = container_id
    if opts.labels:
        cfg["annotations"].update(opts.labels)
    return cfg
