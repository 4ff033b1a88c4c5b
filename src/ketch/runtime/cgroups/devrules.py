"""Device rules: linux.resources.devices parsed, and a model of the v1 devices controller.

The model follows the kernel's (security/device_cgroup.c) and runc's emulator: the cgroup is either
default-deny with a list of allowed exceptions (a white-list) or default-allow with denied exceptions; an
``a`` rule switches the default and drops every exception; rules are applied in config order, so later rules
win. Both drivers use it: v1 writes the transition from the current devices.list to the target; v2 compiles
the target's exceptions into an eBPF program. Config-linux.md "Allowed Device Cgroup".
"""

from __future__ import annotations

from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_bool, opt_int, opt_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_ALLOWED", "Emulator", "F", "Rule", "parse_rules"]

F = f"{PREFIX}.devices"
WILDCARD = -1
MAX_NUMBER = 2**31 - 1  # device numbers are compared as 32-bit immediates in the v2 eBPF filter
_BITS = {"r": 1, "w": 2, "m": 4}
ALL = 7


def perms_text(bits: int) -> str:
    return "".join(c for c, b in _BITS.items() if bits & b)


class Rule:
    """One device rule: allow/deny ``access`` to devices of ``kind`` (``a``/``b``/``c``) major:minor."""

    __slots__ = ("access", "allow", "kind", "major", "minor")

    def __init__(self, allow: bool, kind: str, major: int, minor: int, access: int) -> None:
        self.allow, self.kind, self.major, self.minor, self.access = allow, kind, major, minor, access

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def key(self) -> tuple[bool, str, int, int, int]:
        return (self.allow, self.kind, self.major, self.minor, self.access)

    def cgroup_line(self) -> str:
        """The devices.allow / devices.deny text: ``c 1:3 rwm``, ``b *:* m``, ``a *:* rwm``."""
        major = "*" if self.major == WILDCARD else str(self.major)
        minor = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.kind} {major}:{minor} {perms_text(self.access)}"

    def __repr__(self) -> str:
        return f"Rule({'allow' if self.allow else 'deny'} {self.cgroup_line()})"


def _allow(kind: str, major: int, minor: int, access: str = "rwm") -> Rule:
    return Rule(True, kind, major, minor, sum(_BITS[c] for c in access))


# What every container may use, appended after the config's rules (as runc's specconv does): mknod of any
# device, and the devices runtime-spec config-linux.md "Default Devices" requires, plus /dev/pts/*, ptmx and
# /dev/net/tun.
DEFAULT_ALLOWED = (
    _allow("c", WILDCARD, WILDCARD, "m"),
    _allow("b", WILDCARD, WILDCARD, "m"),
    _allow("c", 1, 3),  # /dev/null
    _allow("c", 1, 8),  # /dev/random
    _allow("c", 1, 7),  # /dev/full
    _allow("c", 5, 0),  # /dev/tty
    _allow("c", 1, 5),  # /dev/zero
    _allow("c", 1, 9),  # /dev/urandom
    _allow("c", 136, WILDCARD),  # /dev/pts/*
    _allow("c", 5, 2),  # /dev/ptmx
    _allow("c", 10, 200),  # /dev/net/tun
)


def parse_rules(items: Any, field: str = F) -> list[Rule]:
    """linux.resources.devices entries as Rules; ``type`` defaults to ``a``, ``access`` to ``rwm``."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise CgroupConfigError(f"{field}: expected an array, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise CgroupConfigError(f"{f}: expected an object, got {item!r}")
        allow = opt_bool(item, "allow", f)
        if allow is None:
            raise CgroupConfigError(f"{f}.allow: required")
        kind = opt_str(item, "type", f) or "a"
        if kind not in ("a", "b", "c"):
            raise CgroupConfigError(f"{f}.type: {kind!r} is not one of a, b, c")
        major = opt_int(item, "major", f, minimum=-1, maximum=MAX_NUMBER)
        minor = opt_int(item, "minor", f, minimum=-1, maximum=MAX_NUMBER)
        access = opt_str(item, "access", f) or "rwm"
        if any(c not in _BITS for c in access):
            raise CgroupConfigError(f"{f}.access: {access!r} may only use the letters r, w and m")
        bits = 0
        for c in access:
            bits |= _BITS[c]
        out.append(Rule(allow, kind, WILDCARD if major is None else major, WILDCARD if minor is None else minor, bits))
    return out


class Emulator:
    """A devices cgroup's state: the default and the exceptions, keyed by (kind, major, minor)."""

    __slots__ = ("default_allow", "exceptions")

    def __init__(self, default_allow: bool = False) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[tuple[str, int, int], int] = {}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Emulator)
            and self.default_allow == other.default_allow
            and self.exceptions == other.exceptions
        )

    def __repr__(self) -> str:
        return f"Emulator(default_allow={self.default_allow}, {self.rules()})"

    @classmethod
    def from_rules(cls, rules: list[Rule] | tuple[Rule, ...]) -> Emulator:
        """The state reached by applying ``rules`` in order to a new (default-deny) cgroup."""
        emu = cls()
        for r in rules:
            emu.apply(r)
        return emu

    @classmethod
    def from_list(cls, text: str) -> Emulator:
        """The state a v1 ``devices.list`` shows: ``a *:* rwm`` alone means default-allow."""
        emu = cls()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            kind, (major, _, minor), access = parts[0], parts[1].partition(":"), parts[2]
            if kind == "a":
                emu.default_allow = True
                emu.exceptions.clear()
                continue
            meta = (kind, WILDCARD if major == "*" else int(major), WILDCARD if minor == "*" else int(minor))
            bits = sum(_BITS.get(c, 0) for c in access)
            emu.exceptions[meta] = emu.exceptions.get(meta, 0) | bits
        return emu

    def apply(self, rule: Rule) -> None:
        if rule.kind == "a":
            self.default_allow = rule.allow
            self.exceptions.clear()
            return
        meta = (rule.kind, rule.major, rule.minor)
        if rule.allow == self.default_allow:
            self._remove(meta, rule.access, rule)
        else:
            self.exceptions[meta] = self.exceptions.get(meta, 0) | rule.access

    def _remove(self, meta: tuple[str, int, int], access: int, rule: Rule) -> None:
        kind, major, minor = meta
        # The kernel silently ignores removing part of a wildcard exception (it cannot split it), which would
        # leave access the config meant to take away: refuse it instead, as runc does.
        for partial in ((kind, WILDCARD, minor), (kind, major, WILDCARD), (kind, WILDCARD, WILDCARD)):
            if partial != meta and self.exceptions.get(partial, 0) & access:
                wide = Rule(not self.default_allow, kind, partial[1], partial[2], self.exceptions[partial])
                raise CgroupConfigError(
                    f"{F}: rule {rule!r} cannot punch a hole in the wider rule {wide!r}; "
                    "list the narrower rule first or drop the wide one"
                )
        left = self.exceptions.get(meta, 0) & ~access
        if left:
            self.exceptions[meta] = left
        else:
            self.exceptions.pop(meta, None)

    def rules(self) -> list[Rule]:
        """The exceptions as rules (allow rules for a white-list, deny rules for a black-list), sorted."""
        allow = not self.default_allow
        return [Rule(allow, k, ma, mi, acc) for (k, ma, mi), acc in sorted(self.exceptions.items())]

    def allows(self, kind: str, major: int, minor: int, access: int) -> bool:
        """Whether an access is allowed, as the kernel decides (security/device_cgroup.c): in a white-list
        one allow exception must cover all of it; in a black-list any deny exception overlapping it denies."""
        for (k, ma, mi), acc in self.exceptions.items():
            if k != kind or ma not in (WILDCARD, major) or mi not in (WILDCARD, minor):
                continue
            if self.default_allow and acc & access:
                return False
            if not self.default_allow and (acc & access) == access:
                return True
        return self.default_allow

    def transition(self, target: Emulator) -> list[Rule]:
        """The devices.allow/deny writes that take a v1 cgroup from this state to ``target``.

        A change of default is a disruptive ``a`` rule first; so is any default-allow source, whose deny
        exceptions devices.list does not show. Otherwise only the differences are written, so a running
        container never loses a device it keeps (what ``update`` needs).
        """
        out: list[Rule] = []
        old = self.exceptions
        if self.default_allow or self.default_allow != target.default_allow:
            out.append(Rule(target.default_allow, "a", WILDCARD, WILDCARD, ALL))
            old = {}
        for meta, acc in sorted(old.items()):
            dropped = acc & ~target.exceptions.get(meta, 0)
            if dropped:
                out.append(Rule(target.default_allow, meta[0], meta[1], meta[2], dropped))
        for meta, acc in sorted(target.exceptions.items()):
            gained = acc & ~old.get(meta, 0)
            if gained:
                out.append(Rule(not target.default_allow, meta[0], meta[1], meta[2], gained))
        return out
