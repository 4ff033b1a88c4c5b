"""v1 devices controller: the rules written to devices.allow / devices.deny as a minimal transition."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.devrules import Emulator, F, Rule
from ketch.runtime.cgroups.errors import CgroupConfigError

HIERARCHY = "devices"


def apply_rules(path: str, rules: list[Rule]) -> None:
    target = Emulator.from_rules(rules)
    current = Emulator.from_list(fsio.read_text(path, "devices.list"))
    for rule in current.transition(target):
        fsio.write(path, "devices.allow" if rule.allow else "devices.deny", rule.cgroup_line(), F)
    after = Emulator.from_list(fsio.read_text(path, "devices.list"))
    # A white-list can be checked exactly; a black-list's deny exceptions are not shown, only its mode.
    if after.default_allow != target.default_allow or (not target.default_allow and after != target):
        raise CgroupConfigError(
            f"{F}: the devices cgroup {path} did not reach the configured rules "
            f"(wanted {target!r}, got {after!r}); the parent cgroup may not allow them"
        )
