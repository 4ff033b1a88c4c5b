from __future__ import annotations

import copy
from typing import Any

import pytest

from ketch.runtime.seccomp import SeccompProfileError, parse_profile

BASE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW"},
    ],
}


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    p = copy.deepcopy(BASE)
    target: Any = p
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return p


def test_valid_profile_parses() -> None:
    prof = parse_profile(BASE)
    assert prof.default_action == "SCMP_ACT_ERRNO"
    assert prof.default_ret == 0x00050000 | 1  # EPERM by default
    assert prof.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86")
    assert prof.rules[2].ret == 0x00050000 | 38
    assert prof.rules[1].args[0].value == 8 and prof.rules[1].args[0].value_two == 0
    assert not prof.notify


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["syscalls", 3, "action"], "SCMP_ACT_FOO", 'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"'),
        (["defaultAction"], "SCMP_ACT_NOPE", 'linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"'),
        (["defaultAction"], KeyError, "linux.seccomp.defaultAction: is required"),
        (["architectures", 1], "SCMP_ARCH_Z80", 'linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80"'),
        (["flags", 0], "SECCOMP_FILTER_FLAG_BOGUS", 'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_BOGUS"'),
        (["syscalls", 1, "args", 0, "op"], "SCMP_CMP_ALMOST", 'linux.seccomp.syscalls[1].args[0].op: unknown operator "SCMP_CMP_ALMOST"'),
        (["syscalls", 1, "args", 0, "index"], 6, "linux.seccomp.syscalls[1].args[0].index: 6 is out of range 0..5"),
        (["syscalls", 1, "args", 0, "value"], -1, "linux.seccomp.syscalls[1].args[0].value: -1 is out of range"),
        (["syscalls", 1, "args", 0, "value"], 1 << 64, "linux.seccomp.syscalls[1].args[0].value: 18446744073709551616 is out of range"),
        (["syscalls", 1, "args", 0, "value"], True, "linux.seccomp.syscalls[1].args[0].value: expected an unsigned integer"),
        (["syscalls", 1, "args", 0, "op"], KeyError, "linux.seccomp.syscalls[1].args[0].op: is required"),
        (["syscalls", 0, "errnoRet"], 1, "linux.seccomp.syscalls[0].errnoRet: action SCMP_ACT_ALLOW takes no errno"),
        (["syscalls", 2, "errnoRet"], 5000, "linux.seccomp.syscalls[2].errnoRet: 5000 is out of range 0..4095"),
        (["syscalls", 2, "errnoRet"], "38", "linux.seccomp.syscalls[2].errnoRet: expected an unsigned integer"),
        (["syscalls", 0, "names"], [], "linux.seccomp.syscalls[0].names: must contain at least one"),
        (["syscalls", 0, "names"], KeyError, "linux.seccomp.syscalls[0].names: is required"),
        (["syscalls", 0, "names", 1], "", "linux.seccomp.syscalls[0].names[1]: empty system call name"),
        (["syscalls", 0, "names", 1], 7, "linux.seccomp.syscalls[0].names[1]: expected a string"),
        (["syscalls", 0], "read", "linux.seccomp.syscalls[0]: expected an object"),
        (["syscalls"], {}, "linux.seccomp.syscalls: expected an array"),
        (["defaultErrnoRet"], 1, None),  # valid: ERRNO takes an errno
        (["listenerMetadata"], "x", "linux.seccomp.listenerMetadata: must not be set without listenerPath"),
        (["defaultAction"], "SCMP_ACT_NOTIFY", "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
    ],
)
def test_errors_name_the_field(path: list[Any], value: Any, message: str | None) -> None:
    profile = with_change(path, value)
    if message is None:
        parse_profile(profile)
        return
    with pytest.raises(SeccompProfileError) as info:
        parse_profile(profile)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_default_errno_only_with_errno_actions() -> None:
    with pytest.raises(SeccompProfileError, match=r"^linux.seccomp.defaultErrnoRet: action SCMP_ACT_KILL_PROCESS takes no errno"):
        parse_profile({"defaultAction": "SCMP_ACT_KILL_PROCESS", "defaultErrnoRet": 1})
    assert parse_profile({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 40000}).default_ret == 0x7FF00000 | 40000


def test_notify_needs_a_listener_and_spares_write() -> None:
    rule = {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
    with pytest.raises(SeccompProfileError, match=r"^linux.seccomp.listenerPath: is required: linux.seccomp.syscalls\[0\]"):
        parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    with pytest.raises(SeccompProfileError, match=r"^linux.seccomp.syscalls\[0\].names\[1\]: SCMP_ACT_NOTIFY cannot be used for write"):
        parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
                       "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]})
    prof = parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock", "syscalls": [rule]})
    assert prof.notify and prof.listener_path == "/run/a.sock"


def test_not_an_object() -> None:
    with pytest.raises(SeccompProfileError, match=r"^linux.seccomp: expected an object, got list"):
        parse_profile([])


def test_unknown_keys_are_ignored_and_duplicates_collapse() -> None:
    prof = parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "comment": "x", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X86"]})
    assert prof.architectures == ("SCMP_ARCH_X86",)


def test_filter_key_ignores_load_time_fields() -> None:
    a = parse_profile(BASE)
    b = parse_profile({**BASE, "flags": [], "listenerPath": "/x.sock"})
    assert a.filter_key() == b.filter_key()
    assert a.filter_key() != parse_profile(with_change(["syscalls", 2, "errnoRet"], 1)).filter_key()
