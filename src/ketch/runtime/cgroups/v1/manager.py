"""The cgroup v1 manager: one directory per mounted hierarchy (comounts share one), the controllers applied
in runc's order (cpuset first, devices before joining)."""

from __future__ import annotations

import os
import sys

from ketch.runtime.cgroups.base import Manager
from ketch.runtime.cgroups.errors import CgroupConfigError, CgroupError
from ketch.runtime.cgroups.fields import PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources

__all__ = ["V1Manager"]

# (module in v1/, hierarchy, linux.resources key) in the order resources are written
_SETTERS = (
    ("cpuset", "cpuset", "cpu"),
    ("memory", "memory", "memory"),
    ("cpu", "cpu", "cpu"),
    ("pids", "pids", "pids"),
    ("blkio", "blkio", "blockIO"),
    ("hugetlb", "hugetlb", "hugepageLimits"),
    ("rdma", "rdma", "rdma"),
)
# (module, hierarchy) read by stats()
_STATS = (
    ("cpu", "cpu"),
    ("cpuacct", "cpuacct"),
    ("cpuset", "cpuset"),
    ("memory", "memory"),
    ("pids", "pids"),
    ("blkio", "blkio"),
    ("hugetlb", "hugetlb"),
)


def _module(name: str) -> Any:
    # __import__ rather than importlib: importing importlib (and warnings) costs start-up time
    __import__(f"ketch.runtime.cgroups.v1.{name}")
    return sys.modules[f"ketch.runtime.cgroups.v1.{name}"]


class V1Manager(Manager):
    mode = "v1"

    def _setup_new(self, made: list[str]) -> None:
        cpuset = self.paths.get("cpuset")
        if cpuset is not None:
            top = cpuset
            while os.path.exists(os.path.join(os.path.dirname(top), "cpuset.cpus")):
                top = os.path.dirname(top)
            _module("cpuset").inherit(cpuset, top)

    def _pids_dir(self) -> str:
        for c in ("pids", "freezer", "devices", "memory", "cpu", "name=systemd"):
            if c in self.paths:
                return self.paths[c]
        return self._dirs()[0]

    def _need(self, hierarchy: str, key: str) -> str:
        path = self.paths.get(hierarchy)
        if path is None:
            raise CgroupConfigError(f"{PREFIX}.{key}: the {hierarchy} cgroup controller is not mounted on this host")
        return path

    def apply(self, resources: Resources | None, *, default_devices: bool = True) -> None:
        res = resources or {}
        if not isinstance(res, dict):
            raise CgroupConfigError(f"{PREFIX}: expected an object, got {type(res).__name__}")
        if res.get("unified"):
            raise CgroupConfigError(
                f"{PREFIX}.unified: needs cgroup v2, and this host's controllers are on cgroup v1"
            )
        for name, hierarchy, key in _SETTERS:
            if res.get(key) is None:
                continue
            mod = _module(name)
            if mod.wanted(res):
                what = "cpu.cpus/mems" if name == "cpuset" else key
                mod.apply(self._need(hierarchy, what), res, self._warn)
        net = res.get("network")
        if net:
            mod = _module("network")
            if mod.wants_class(res):
                mod.apply_class(self._need("net_cls", "network.classID"), res)
            if mod.wants_priorities(res):
                mod.apply_priorities(self._need("net_prio", "network.priorities"), res)
        if "devices" in res or default_devices:
            from ketch.runtime.cgroups.devrules import DEFAULT_ALLOWED, parse_rules

            rules = parse_rules(res.get("devices"))
            if default_devices:
                rules.extend(DEFAULT_ALLOWED)
            if "devices" not in self.paths:
                if res.get("devices"):
                    raise CgroupConfigError(
                        f"{PREFIX}.devices: the devices cgroup controller is not mounted on this host"
                    )
                return
            _module("devices").apply_rules(self.paths["devices"], rules)

    def _freezer(self) -> str:
        path = self.paths.get("freezer")
        if path is None:
            raise CgroupError("the freezer cgroup controller is not mounted on this host: cannot pause")
        return path

    def freeze(self) -> None:
        _module("freezer").freeze(self._freezer())

    def thaw(self) -> None:
        _module("freezer").thaw(self._freezer())

    def freezer_state(self) -> str:
        path = self.paths.get("freezer")
        if path is None or not os.path.isdir(path):
            return "thawed" if path is None else "undefined"
        state: str = _module("freezer").state(path)
        return state

    def stats(self) -> dict[str, Any]:
        from ketch.runtime.cgroups.stats import empty_stats

        out = empty_stats()
        for name, hierarchy in _STATS:
            path = self.paths.get(hierarchy)
            if path is not None and os.path.isdir(path):
                _module(name).stats(path, out)
        return out

    def oom_kill_count(self) -> int:
        path = self.paths.get("memory")
        if path is None or not os.path.isdir(path):
            return 0
        count: int = _module("memory").oom_kill_count(path)
        return count
