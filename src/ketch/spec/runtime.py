"""runtime-spec config.json: validation with field paths, and the tables the runtime needs.

The runtime reads config.json on every ``create``, so this module keeps to plain dicts and lists as parsed
from JSON (no model classes to build): :func:`validate_config` walks the document once, checks every field the
runtime acts on, and raises :class:`ConfigError` naming the first bad field as a path
(``process.rlimits[1].soft``). Unknown properties are ignored and kept, as config.md "Extensibility"
requires of runtimes.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = [
    "NAMESPACE_TYPES",
    "RLIMITS",
    "ConfigError",
    "validate_config",
    "validate_process",
]

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

SCHED_POLICIES = ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE")
SCHED_FLAGS = (
    "SCHED_FLAG_RESET_ON_FORK",
    "SCHED_FLAG_RECLAIM",
    "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS",
    "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX",
)
PROPAGATIONS = ("shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable")
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
_U32 = 0xFFFFFFFF
_RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF


class ConfigError(ValueError):
    """config.json is not something the runtime can act on; the message starts with the field path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(field, f"must be an object, not {_type_name(value)}")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(field, f"must be an array, not {_type_name(value)}")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(field, f"must be a string, not {_type_name(value)}")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(field, f"must be a boolean, not {_type_name(value)}")
    return value


def _int(value: Any, field: str, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(field, f"must be an integer, not {_type_name(value)}")
    if lo is not None and value < lo:
        raise ConfigError(field, f"{value} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ConfigError(field, f"{value} is above the maximum {hi}")
    return value


def _strings(value: Any, field: str) -> list[str]:
    items = _list(value, field)
    for i, item in enumerate(items):
        _str(item, f"{field}[{i}]")
    return items


def _abs_path(value: Any, field: str) -> str:
    path = _str(value, field)
    if not path.startswith("/"):
        raise ConfigError(field, f"{path!r} must be an absolute path")
    if ".." in path.split("/"):
        raise ConfigError(field, f"{path!r} must not contain '..' components")
    return path


def validate_config(cfg: Any) -> dict[str, Any]:
    """Check a parsed config.json; returns it unchanged or raises :class:`ConfigError`."""
    cfg = _obj(cfg, "")
    version = _str(cfg.get("ociVersion"), "ociVersion") if "ociVersion" in cfg else None
    if version is None:
        raise ConfigError("ociVersion", "is required")
    major = version.split(".", 1)[0]
    if major != "1":
        raise ConfigError("ociVersion", f"unsupported version {version!r}: ketch-runtime implements 1.x")
    root = _obj(cfg.get("root"), "root")
    _str(root.get("path"), "root.path")
    if not root["path"]:
        raise ConfigError("root.path", "must not be empty")
    if "readonly" in root:
        _bool(root["readonly"], "root.readonly")
    if "process" in cfg:
        validate_process(cfg["process"], "process")
    for key in ("hostname", "domainname"):
        if key in cfg:
            _str(cfg[key], key)
    for i, mount in enumerate(_list(cfg.get("mounts", []), "mounts")):
        _validate_mount(mount, f"mounts[{i}]")
    if "hooks" in cfg:
        hooks = _obj(cfg["hooks"], "hooks")
        for name in HOOK_NAMES:
            for i, hook in enumerate(_list(hooks.get(name, []), f"hooks.{name}")):
                _validate_hook(hook, f"hooks.{name}[{i}]")
    if "annotations" in cfg:
        for key, value in _obj(cfg["annotations"], "annotations").items():
            _str(value, f"annotations.{key}")
    linux = _obj(cfg.get("linux", {}), "linux")
    _validate_linux(linux, cfg)
    result: dict[str, Any] = cfg
    return result


def validate_process(process: Any, field: str = "process") -> dict[str, Any]:
    """Check a process object (config.json's, or ``exec --process``)."""
    process = _obj(process, field)
    args = _strings(process.get("args"), f"{field}.args") if "args" in process else None
    if not args:
        raise ConfigError(f"{field}.args", "must name the program to run")
    cwd = process.get("cwd")
    if cwd is None:
        raise ConfigError(f"{field}.cwd", "is required")
    if not _str(cwd, f"{field}.cwd").startswith("/"):
        raise ConfigError(f"{field}.cwd", f"{cwd!r} must be an absolute path")
    if "terminal" in process:
        _bool(process["terminal"], f"{field}.terminal")
    for i, item in enumerate(_strings(process.get("env", []), f"{field}.env")):
        if "=" not in item:
            raise ConfigError(f"{field}.env[{i}]", f"{item!r} must have the form KEY=value")
    user = _obj(process.get("user", {}), f"{field}.user")
    _int(user.get("uid", 0), f"{field}.user.uid", 0, _U32)
    _int(user.get("gid", 0), f"{field}.user.gid", 0, _U32)
    if "umask" in user:
        _int(user["umask"], f"{field}.user.umask", 0, 0o777)
    for i, gid in enumerate(_list(user.get("additionalGids", []), f"{field}.user.additionalGids")):
        _int(gid, f"{field}.user.additionalGids[{i}]", 0, _U32)
    if "capabilities" in process:
        caps = _obj(process["capabilities"], f"{field}.capabilities")
        from ketch.spec.runtime_caps import CAPABILITY_NAMES

        for name in CAP_SETS:
            for i, cap in enumerate(_strings(caps.get(name, []), f"{field}.capabilities.{name}")):
                if cap not in CAPABILITY_NAMES:
                    raise ConfigError(f"{field}.capabilities.{name}[{i}]", f"unknown capability {cap!r}")
    seen: set[str] = set()
    for i, rl in enumerate(_list(process.get("rlimits", []), f"{field}.rlimits")):
        path = f"{field}.rlimits[{i}]"
        rl = _obj(rl, path)
        kind = _str(rl.get("type"), f"{path}.type")
        if kind not in RLIMITS:
            raise ConfigError(f"{path}.type", f"unknown rlimit {kind!r}")
        if kind in seen:
            raise ConfigError(f"{path}.type", f"{kind} is given twice")
        seen.add(kind)
        hard = _int(rl.get("hard"), f"{path}.hard", 0, _RLIM_INFINITY)
        soft = _int(rl.get("soft"), f"{path}.soft", 0, _RLIM_INFINITY)
        if soft > hard:
            raise ConfigError(f"{path}.soft", f"{kind} soft limit {soft} is above its hard limit {hard}")
    if "noNewPrivileges" in process:
        _bool(process["noNewPrivileges"], f"{field}.noNewPrivileges")
    if "oomScoreAdj" in process:
        _int(process["oomScoreAdj"], f"{field}.oomScoreAdj", -1000, 1000)
    if "consoleSize" in process:
        size = _obj(process["consoleSize"], f"{field}.consoleSize")
        _int(size.get("height", 0), f"{field}.consoleSize.height", 0, 0xFFFF)
        _int(size.get("width", 0), f"{field}.consoleSize.width", 0, 0xFFFF)
    for key in ("apparmorProfile", "selinuxLabel"):
        if key in process:
            _str(process[key], f"{field}.{key}")
    if "ioPriority" in process:
        io = _obj(process["ioPriority"], f"{field}.ioPriority")
        klass = _str(io.get("class"), f"{field}.ioPriority.class")
        if klass not in ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"):
            raise ConfigError(f"{field}.ioPriority.class", f"unknown class {klass!r}")
        _int(io.get("priority", 0), f"{field}.ioPriority.priority", 0, 7)
    if "scheduler" in process:
        sched = _obj(process["scheduler"], f"{field}.scheduler")
        policy = _str(sched.get("policy"), f"{field}.scheduler.policy")
        if policy not in SCHED_POLICIES:
            raise ConfigError(f"{field}.scheduler.policy", f"unknown policy {policy!r}")
        for i, flag in enumerate(_strings(sched.get("flags", []), f"{field}.scheduler.flags")):
            if flag not in SCHED_FLAGS:
                raise ConfigError(f"{field}.scheduler.flags[{i}]", f"unknown flag {flag!r}")
        _int(sched.get("nice", 0), f"{field}.scheduler.nice", -20, 19)
        _int(sched.get("priority", 0), f"{field}.scheduler.priority", 0, 99)
        for key in ("runtime", "deadline", "period"):
            _int(sched.get(key, 0), f"{field}.scheduler.{key}", 0)
    result: dict[str, Any] = process
    return result


def _validate_mount(mount: Any, field: str) -> None:
    mount = _obj(mount, field)
    _abs_path(mount.get("destination"), f"{field}.destination")
    for key in ("type", "source"):
        if key in mount:
            _str(mount[key], f"{field}.{key}")
    _strings(mount.get("options", []), f"{field}.options")
    for key in ("uidMappings", "gidMappings"):
        if key in mount:
            _validate_id_mappings(mount[key], f"{field}.{key}")


def _validate_hook(hook: Any, field: str) -> None:
    hook = _obj(hook, field)
    path = _str(hook.get("path"), f"{field}.path")
    if not path.startswith("/"):
        raise ConfigError(f"{field}.path", f"{path!r} must be an absolute path")
    _strings(hook.get("args", []), f"{field}.args")
    _strings(hook.get("env", []), f"{field}.env")
    if "timeout" in hook:
        _int(hook["timeout"], f"{field}.timeout", 1)


def _validate_id_mappings(value: Any, field: str) -> None:
    for i, m in enumerate(_list(value, field)):
        path = f"{field}[{i}]"
        m = _obj(m, path)
        for key in ("containerID", "hostID", "size"):
            _int(m.get(key), f"{path}.{key}", 0, _U32)
        if m["size"] == 0:
            raise ConfigError(f"{path}.size", "must be at least 1")


# sysctl prefixes that belong to a namespace (runc's validator uses the same table)
_IPC_SYSCTLS = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)


def _validate_linux(linux: dict[str, Any], cfg: dict[str, Any]) -> None:
    kinds: dict[str, dict[str, Any]] = {}
    for i, ns in enumerate(_list(linux.get("namespaces", []), "linux.namespaces")):
        path = f"linux.namespaces[{i}]"
        ns = _obj(ns, path)
        kind = _str(ns.get("type"), f"{path}.type")
        if kind not in NAMESPACE_TYPES:
            raise ConfigError(f"{path}.type", f"unknown namespace type {kind!r}")
        if kind in kinds:
            raise ConfigError(f"{path}.type", f"namespace {kind!r} is given twice")
        if "path" in ns:
            _abs_path(ns["path"], f"{path}.path")
        kinds[kind] = ns
    if "mount" not in kinds:
        raise ConfigError("linux.namespaces", "a mount namespace is required")
    if "user" in kinds and "path" not in kinds["user"]:
        for key in ("uidMappings", "gidMappings"):
            if not linux.get(key):
                raise ConfigError(f"linux.{key}", "is required with a new user namespace")
    for key in ("uidMappings", "gidMappings"):
        if key in linux:
            _validate_id_mappings(linux[key], f"linux.{key}")
            if "user" not in kinds:
                raise ConfigError(f"linux.{key}", "needs a user namespace in linux.namespaces")
    if "hostname" in cfg and cfg["hostname"] and ("uts" not in kinds or "path" in kinds["uts"]):
        raise ConfigError("hostname", "setting the hostname needs a new uts namespace")
    if "domainname" in cfg and cfg["domainname"] and ("uts" not in kinds or "path" in kinds["uts"]):
        raise ConfigError("domainname", "setting the domainname needs a new uts namespace")
    if "timeOffsets" in linux:
        offsets = _obj(linux["timeOffsets"], "linux.timeOffsets")
        if "time" not in kinds or "path" in kinds["time"]:
            raise ConfigError("linux.timeOffsets", "needs a new time namespace")
        for clock, value in offsets.items():
            if clock not in ("monotonic", "boottime"):
                raise ConfigError(f"linux.timeOffsets.{clock}", "clock must be monotonic or boottime")
            value = _obj(value, f"linux.timeOffsets.{clock}")
            _int(value.get("secs", 0), f"linux.timeOffsets.{clock}.secs")
            _int(value.get("nanosecs", 0), f"linux.timeOffsets.{clock}.nanosecs", 0, 999_999_999)
    for i, dev in enumerate(_list(linux.get("devices", []), "linux.devices")):
        path = f"linux.devices[{i}]"
        dev = _obj(dev, path)
        _abs_path(dev.get("path"), f"{path}.path")
        kind = _str(dev.get("type"), f"{path}.type")
        if kind not in ("c", "b", "u", "p"):
            raise ConfigError(f"{path}.type", f"device type {kind!r} must be one of c, b, u, p")
        if kind != "p":
            _int(dev.get("major"), f"{path}.major", 0)
            _int(dev.get("minor"), f"{path}.minor", 0)
        for key in ("fileMode", "uid", "gid"):
            if key in dev:
                _int(dev[key], f"{path}.{key}", 0, _U32)
    sysctls = _obj(linux.get("sysctl", {}), "linux.sysctl")
    for key, value in sysctls.items():
        _str(value, f"linux.sysctl.{key}")
        _check_sysctl_namespace(key, kinds)
    for key in ("maskedPaths", "readonlyPaths"):
        for i, item in enumerate(_strings(linux.get(key, []), f"linux.{key}")):
            _abs_path(item, f"linux.{key}[{i}]")
    if "personality" in linux:
        persona = _obj(linux["personality"], "linux.personality")
        domain = _str(persona.get("domain"), "linux.personality.domain")
        if domain not in ("LINUX", "LINUX32"):
            raise ConfigError("linux.personality.domain", f"unknown domain {domain!r} (LINUX or LINUX32)")
        _strings(persona.get("flags", []), "linux.personality.flags")
    if "rootfsPropagation" in linux:
        prop = _str(linux["rootfsPropagation"], "linux.rootfsPropagation")
        if prop not in PROPAGATIONS:
            raise ConfigError("linux.rootfsPropagation", f"unknown propagation {prop!r}")
    if "cgroupsPath" in linux:
        _str(linux["cgroupsPath"], "linux.cgroupsPath")
    if "resources" in linux:
        _obj(linux["resources"], "linux.resources")
    if "seccomp" in linux:
        _obj(linux["seccomp"], "linux.seccomp")
    for key in ("mountLabel",):
        if key in linux:
            _str(linux[key], f"linux.{key}")


def _check_sysctl_namespace(key: str, kinds: dict[str, dict[str, Any]]) -> None:
    field = f"linux.sysctl.{key}"

    def need(kind: str) -> None:
        if kind not in kinds:
            raise ConfigError(field, f"sysctl {key!r} is not in a separate {kind} namespace")

    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        need("ipc")
    elif key.startswith("net."):
        need("network")
    elif key in ("kernel.hostname", "kernel.domainname"):
        need("uts")
    else:
        raise ConfigError(field, f"sysctl {key!r} is not namespaced and cannot be set for a container")
