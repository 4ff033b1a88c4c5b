"""The cgroup v2 manager: one directory in the unified tree; controllers enabled in every ancestor's
cgroup.subtree_control on create (as runc does), the device controller as an eBPF program."""

from __future__ import annotations

import os
import sys

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.base import Manager
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources

__all__ = ["V2Manager"]

# (module in v2/, controller, linux.resources key) in the order resources are written; unified goes last
_SETTERS = (
    ("cpu", "cpu", "cpu"),
    ("cpuset", "cpuset", "cpu"),
    ("memory", "memory", "memory"),
    ("pids", "pids", "pids"),
    ("io", "io", "blockIO"),
    ("hugetlb", "hugetlb", "hugepageLimits"),
    ("rdma", "rdma", "rdma"),
)
_STATS = ("cpu", "cpuset", "memory", "pids", "io", "hugetlb")


def _module(name: str) -> Any:
    # __import__ rather than importlib: importing importlib (and warnings) costs start-up time
    __import__(f"ketch.runtime.cgroups.v2.{name}")
    return sys.modules[f"ketch.runtime.cgroups.v2.{name}"]


def _enable_controllers(directory: str) -> None:
    """Delegate every controller ``directory`` has to its children (best effort, one by one on refusal)."""
    available = fsio.read_text(directory, "cgroup.controllers").split()
    if not available:
        return
    path = os.path.join(directory, "cgroup.subtree_control")
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(" ".join(f"+{c}" for c in available))
        return
    except OSError:
        pass
    for c in available:
        try:
            with open(path, "w", encoding="ascii") as f:
                f.write(f"+{c}")
        except OSError:
            continue  # e.g. a domain-invalid parent, or a controller the parent cannot delegate


class V2Manager(Manager):
    mode = "v2"

    @property
    def path(self) -> str:
        return self.paths[""]

    def _setup_new(self, made: list[str]) -> None:
        top = self.path
        while os.path.exists(os.path.join(os.path.dirname(top), "cgroup.controllers")):
            top = os.path.dirname(top)
        # from the root of the tree down to the container's parent
        chain = []
        cur = os.path.dirname(self.path)
        while cur.startswith(top) and len(cur) >= len(top):
            chain.append(cur)
            if cur == top:
                break
            cur = os.path.dirname(cur)
        for d in reversed(chain):
            _enable_controllers(d)

    def _controllers(self) -> list[str]:
        if not fsio.exists(self.path, "cgroup.controllers"):
            return []
        return fsio.read_text(self.path, "cgroup.controllers").split()

    def apply(self, resources: Resources | None, *, default_devices: bool = True) -> None:
        res = resources or {}
        if not isinstance(res, dict):
            raise CgroupConfigError(f"{PREFIX}: expected an object, got {type(res).__name__}")
        if res.get("network"):
            raise CgroupConfigError(
                f"{PREFIX}.network: cgroup v2 has no net_cls/net_prio controllers (use eBPF or tc instead)"
            )
        enabled: list[str] | None = None
        for name, controller, key in _SETTERS:
            if res.get(key) is None:
                continue
            mod = _module(name)
            if not mod.wanted(res):
                continue
            if enabled is None:
                enabled = self._controllers()
            if controller not in enabled:
                what = "cpu.cpus/mems" if name == "cpuset" else key
                raise CgroupConfigError(
                    f"{PREFIX}.{what}: the {controller} controller is not available in {self.path} "
                    f"(available: {' '.join(enabled) or 'none'})"
                )
            mod.apply(self.path, res, self._warn)
        if "devices" in res or default_devices:
            from ketch.runtime.cgroups.devrules import DEFAULT_ALLOWED, parse_rules

            rules = parse_rules(res.get("devices"))
            if default_devices:
                rules.extend(DEFAULT_ALLOWED)
            _module("devices").apply_rules(self.path, rules)
        if res.get("unified"):
            _module("unified").apply(self.path, res, self._warn)

    def freeze(self) -> None:
        _module("freezer").freeze(self.path)

    def thaw(self) -> None:
        _module("freezer").thaw(self.path)

    def freezer_state(self) -> str:
        if not os.path.isdir(self.path):
            return "undefined"
        state: str = _module("freezer").state(self.path)
        return state

    def kill_all(self, sig: int) -> None:
        import signal

        # cgroup.kill (5.14+) kills every task atomically, forks in flight included
        if sig == signal.SIGKILL and fsio.exists(self.path, "cgroup.kill"):
            fsio.write(self.path, "cgroup.kill", "1", "cgroup.kill")
            return
        super().kill_all(sig)

    def stats(self) -> dict[str, Any]:
        from ketch.runtime.cgroups.stats import empty_stats

        out = empty_stats()
        if os.path.isdir(self.path):
            for name in _STATS:
                _module(name).stats(self.path, out)
        return out

    def oom_kill_count(self) -> int:
        if not os.path.isdir(self.path):
            return 0
        count: int = _module("memory").oom_kill_count(self.path)
        return count
