"""Validate a ``linux.seccomp`` object of config.json into an immutable :class:`Profile`.

Follows runtime-spec config-linux.md "Seccomp". Every error is one line starting with the path of the field
that is wrong, e.g. ``linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"``. Pure Python: no
libseccomp here, so this runs on every container start, cached filter or not.
"""

from __future__ import annotations

import errno

from ketch._common.record import Record
from ketch.runtime.seccomp.errors import SeccompProfileError
from ketch.runtime.seccomp.names import (
    ACTIONS,
    ACTIONS_WITH_ERRNO,
    ARCHES,
    FLAGS,
    OPERATORS,
    RET_ERRNO,
    RET_TRACE,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ALLOW_LIKE_ACTIONS", "Arg", "Profile", "Rule", "parse_profile"]

FIELD = "linux.seccomp"
_U64_MAX = (1 << 64) - 1
_MAX_ERRNO = 4095  # the kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO
_MAX_ARGS = 6  # a Linux system call has at most six arguments

# Default actions under which a system call unknown to the profile should not get ENOSYS (runc's rule: a
# tracer is expected to handle new system calls itself).
ALLOW_LIKE_ACTIONS = frozenset({"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"})

# System calls the init makes between loading the filter and handing the listener fd to the runtime: a
# notification for one of them would block the init forever, since no agent has the fd yet.
_NOTIFY_FORBIDDEN = frozenset({"write", "sendmsg"})


class Arg(Record):
    __slots__ = ("arg_index", "value", "value_two", "op")

    def __init__(self, arg_index: int, value: int, value_two: int, op: str) -> None:  # fmt: skip
        self.arg_index = arg_index
        self.value = value
        self.value_two = value_two
        self.op = op


class Rule(Record):
    """One entry of ``syscalls``; ``position`` is its index there, for error messages."""

    __slots__ = ("position", "names", "action", "ret", "args")

    def __init__(self, position: int, names: tuple[str, ...], action: str, ret: int, args: tuple[Arg, ...]) -> None:  # fmt: skip
        self.position = position
        self.names = names
        self.action = action
        self.ret = ret  # the filter return value: action | errno
        self.args = args


class Profile(Record):
    __slots__ = (
        "default_action",
        "default_ret",
        "architectures",
        "flags",
        "listener_path",
        "listener_metadata",
        "rules",
    )

    def __init__(self, default_action: str, default_ret: int, architectures: tuple[str, ...], flags: tuple[str, ...], listener_path: str | None, listener_metadata: str, rules: tuple[Rule, ...]) -> None:  # fmt: skip
        self.default_action = default_action
        self.default_ret = default_ret
        self.architectures = architectures
        self.flags = flags
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.rules = rules

    @property
    def notify(self) -> bool:
        return any(r.action == "SCMP_ACT_NOTIFY" for r in self.rules)

    def filter_key(self) -> tuple[object, ...]:
        """Everything the compiled BPF depends on, as a value whose ``repr`` is canonical.

        Flags and the listener are applied at load time and are not part of the program.
        """
        return (
            self.default_action,
            self.default_ret,
            self.architectures,
            tuple(
                (r.names, r.action, r.ret, tuple((a.arg_index, a.value, a.value_two, a.op) for a in r.args))
                for r in self.rules
            ),
        )


def _fail(path: str, message: str) -> SeccompProfileError:
    return SeccompProfileError(f"{path}: {message}")


def _uint(value: object, path: str, maximum: int) -> int:
    # bool is an int in Python but never a number in JSON
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, f"expected an unsigned integer, got {type(value).__name__} {value!r}")
    if not 0 <= value <= maximum:
        raise _fail(path, f"{value} is out of range 0..{maximum}")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type(value).__name__}")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, f"expected an array, got {type(value).__name__}")
    return value


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    return value


def _action(obj: dict[str, Any], path: str, action_key: str, errno_key: str) -> tuple[str, int]:
    if action_key not in obj:
        raise _fail(f"{path}.{action_key}", "is required")
    name = _string(obj[action_key], f"{path}.{action_key}")
    if name not in ACTIONS:
        raise _fail(f"{path}.{action_key}", f'unknown action "{name}"')
    ret = ACTIONS[name]
    errno_value = obj.get(errno_key)
    if errno_value is not None:
        if name not in ACTIONS_WITH_ERRNO:
            raise _fail(f"{path}.{errno_key}", f"action {name} takes no errno")
        limit = _MAX_ERRNO if ret == RET_ERRNO else 0xFFFF
        ret |= _uint(errno_value, f"{path}.{errno_key}", limit)
    elif ret in (RET_ERRNO, RET_TRACE):
        ret |= errno.EPERM  # config-linux.md: "If not specified its default value is EPERM."
    return name, ret


def _args(value: object, path: str) -> tuple[Arg, ...]:
    out = []
    for i, raw in enumerate(_list(value, path)):
        p = f"{path}[{i}]"
        arg = _object(raw, p)
        for key in ("index", "value", "op"):
            if key not in arg:
                raise _fail(f"{p}.{key}", "is required")
        index = _uint(arg["index"], f"{p}.index", _MAX_ARGS - 1)
        op = _string(arg["op"], f"{p}.op")
        if op not in OPERATORS:
            raise _fail(f"{p}.op", f'unknown operator "{op}"')
        val = _uint(arg["value"], f"{p}.value", _U64_MAX)
        two = _uint(0 if arg.get("valueTwo") is None else arg["valueTwo"], f"{p}.valueTwo", _U64_MAX)
        out.append(Arg(index, val, two, op))
    return tuple(out)


def _optional(obj: dict[str, Any], key: str) -> object:
    """An optional array: absent or null means empty; anything else is validated by the caller."""
    value = obj.get(key)
    return [] if value is None else value


def _names(value: object, path: str) -> tuple[str, ...]:
    names = _list(value, path)
    if not names:
        raise _fail(path, "must contain at least one system call name")
    out = []
    for i, n in enumerate(names):
        name = _string(n, f"{path}[{i}]")
        if not name:
            raise _fail(f"{path}[{i}]", "empty system call name")
        out.append(name)
    return tuple(out)


def _unique_names(value: object, path: str, known: dict[str, int], what: str) -> tuple[str, ...]:
    out: list[str] = []
    for i, raw in enumerate(_list(value, path)):
        name = _string(raw, f"{path}[{i}]")
        if name not in known:
            raise _fail(f"{path}[{i}]", f'unknown {what} "{name}"')
        if name not in out:
            out.append(name)
    return tuple(out)


def parse_profile(raw: object, field: str = FIELD) -> Profile:
    """Validate ``raw`` (the decoded ``linux.seccomp`` object) and return it as a :class:`Profile`.

    Unknown keys are ignored (forward compatibility, as runtime-spec asks of consumers). Raises
    :class:`SeccompProfileError` naming the first wrong field.
    """
    obj = _object(raw, field)
    default_action, default_ret = _action(obj, field, "defaultAction", "defaultErrnoRet")
    if default_action == "SCMP_ACT_NOTIFY":
        # Every system call of the init after loading, including the one handing over the fd, would wait for
        # an agent that cannot have the fd yet (runc refuses this too).
        raise _fail(f"{field}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    arches = _unique_names(
        _optional(obj, "architectures"), f"{field}.architectures", dict.fromkeys(ARCHES, 0), "architecture"
    )
    flags = _unique_names(_optional(obj, "flags"), f"{field}.flags", FLAGS, "flag")

    listener_path = obj.get("listenerPath")
    if listener_path is not None:
        listener_path = _string(listener_path, f"{field}.listenerPath") or None
    metadata = obj.get("listenerMetadata")
    if metadata is not None:
        metadata = _string(metadata, f"{field}.listenerMetadata")
        if metadata and listener_path is None:
            # config-linux.md: "This field MUST NOT be set if listenerPath is not set."
            raise _fail(f"{field}.listenerMetadata", "must not be set without listenerPath")

    rules = []
    for i, raw_rule in enumerate(_list(_optional(obj, "syscalls"), f"{field}.syscalls")):
        p = f"{field}.syscalls[{i}]"
        rule = _object(raw_rule, p)
        if "names" not in rule:
            raise _fail(f"{p}.names", "is required")
        names = _names(rule["names"], f"{p}.names")
        action, ret = _action(rule, p, "action", "errnoRet")
        args = _args(_optional(rule, "args"), f"{p}.args")
        if action == "SCMP_ACT_NOTIFY":
            for j, name in enumerate(names):
                if name in _NOTIFY_FORBIDDEN:
                    raise _fail(
                        f"{p}.names[{j}]",
                        f"SCMP_ACT_NOTIFY cannot be used for {name}: the runtime needs it to hand the listener fd over",
                    )
            if listener_path is None:
                raise _fail(f"{field}.listenerPath", f"is required: {p}.action is SCMP_ACT_NOTIFY")
        rules.append(Rule(i, names, action, ret, args))

    return Profile(
        default_action=default_action,
        default_ret=default_ret,
        architectures=arches,
        flags=flags,
        listener_path=listener_path,
        listener_metadata=metadata or "",
        rules=tuple(rules),
    )
