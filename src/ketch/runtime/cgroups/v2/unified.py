"""linux.resources.unified: raw cgroup v2 ``file: value`` pairs, written after every other controller so they
can override the converted values (config-linux.md "Unified")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.fields import Resources, Warn

F = f"{PREFIX}.unified"
# files the manager itself owns: membership, controller delegation, freezing and killing
_RESERVED = frozenset(
    ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.freeze", "cgroup.kill", "cgroup.type")
)


def wanted(res: Resources) -> bool:
    return bool(opt_dict(res, "unified", PREFIX))


def apply(path: str, res: Resources, warn: Warn) -> None:
    items = opt_dict(res, "unified", PREFIX)
    enabled = fsio.read_text(path, "cgroup.controllers").split() if fsio.exists(path, "cgroup.controllers") else []
    for key, value in items.items():
        f = f"{F}.{key}"
        # a key is a file name in this cgroup directory: a "/" or ".." would write outside it
        if not key or "/" in key or key.startswith(".") or "." not in key:
            raise CgroupConfigError(f"{f}: not a cgroup v2 interface file name")
        if key in _RESERVED:
            raise CgroupConfigError(f"{f}: managed by the runtime, not settable through unified")
        if not isinstance(value, str):
            raise CgroupConfigError(f"{f}: expected a string value, got {value!r}")
        controller = key.split(".", 1)[0]
        if not fsio.exists(path, key):
            if controller != "cgroup" and controller not in enabled:
                raise CgroupConfigError(
                    f"{f}: the {controller} controller is not available in {path} "
                    f"(available: {' '.join(enabled) or 'none'})"
                )
            raise CgroupConfigError(f"{f}: no such cgroup v2 interface file in {path}")
        fsio.write(path, key, value, f)
