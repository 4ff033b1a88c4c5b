"""Compilation through the real libseccomp: programs differ exactly when the rules do."""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

import pytest

from ketch.runtime.seccomp import SeccompUnsupported, parse_profile
from ketch.runtime.seccomp.compiler import compile_profile
from ketch.runtime.seccomp.enosys import enosys_prologue

RET_ENOSYS = struct.pack("=HBBI", 0x06, 0, 0, 0x00050000 | errno.ENOSYS)


def bpf(default: str = "SCMP_ACT_ALLOW", *rules: dict[str, Any], **extra: Any) -> bytes:
    return compile_profile(parse_profile({"defaultAction": default, "syscalls": list(rules), **extra})).bpf


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


def test_same_profile_same_program() -> None:
    rule = {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}
    assert bpf("SCMP_ACT_ALLOW", rule) == bpf("SCMP_ACT_ALLOW", dict(rule))


def test_programs_differ_by_rule() -> None:
    seen = {
        bpf("SCMP_ACT_ALLOW"),
        bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}),
        bpf("SCMP_ACT_ALLOW", {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}),
        bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
        bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS"}),
        bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]}),
        bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 7, "op": "SCMP_CMP_NE"}]}),
        bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}, architectures=["SCMP_ARCH_X86"]),
    }
    assert len(seen) == 8


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
                                    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"])
def test_every_action_compiles_into_its_return_value(action: str) -> None:
    prof = parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                          "syscalls": [{"names": ["mkdir"], "action": action}]})
    ret = prof.rules[0].ret
    assert (0x06, 0, 0, ret) in instructions(compile_profile(prof).bpf)


@pytest.mark.parametrize("op", ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"])
def test_every_operator_compiles(op: str) -> None:
    program = bpf("SCMP_ACT_ALLOW", {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                                     "args": [{"index": 0, "value": 0xF0, "valueTwo": 0x20, "op": op}]})
    assert program != bpf("SCMP_ACT_ALLOW")


def test_rule_equal_to_default_is_skipped() -> None:
    assert bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}) == bpf("SCMP_ACT_ALLOW")


def test_unknown_syscall_names_are_skipped_and_reported() -> None:
    compiled = compile_profile(parse_profile({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "no_such_call_2099"], "action": "SCMP_ACT_ERRNO"}],
    }))
    assert compiled.skipped == ("no_such_call_2099",)
    assert compiled.bpf == bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})


def test_names_of_other_arches_are_not_unknown() -> None:
    # socketcall exists on x86 only: with SCMP_ARCH_X86 in the filter it is a real rule, never "unknown"
    compiled = compile_profile(parse_profile({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socketcall"], "action": "SCMP_ACT_ERRNO"}],
    }))
    assert compiled.skipped == ()
    assert compiled.bpf != bpf("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86"])


def test_enosys_prologue_only_under_denying_defaults() -> None:
    allow_list = {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}
    assert RET_ENOSYS in bpf("SCMP_ACT_ERRNO", allow_list)
    assert RET_ENOSYS in bpf("SCMP_ACT_KILL_PROCESS", allow_list)
    assert RET_ENOSYS not in bpf("SCMP_ACT_ALLOW", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})
    assert RET_ENOSYS not in bpf("SCMP_ACT_LOG", {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})


def test_enosys_prologue_layout() -> None:
    # x86_64 (with x32 bit test) and i386 sections, each comparing against its own highest number
    program = instructions(enosys_prologue({0xC000003E: 318, 0x4000003E: 0x40000000 + 330, 0x40000003: 355}))
    assert program[0] == (0x20, 0, 0, 4)  # load the arch
    assert (0x45, 2, 0, 0x40000000) in program  # x32 bit test
    assert {k for code, _, _, k in program if code == 0x25} == {318, 0x40000000 + 330, 355}
    assert program[-1] == struct.unpack("=HBBI", RET_ENOSYS)
    assert enosys_prologue({}) == b""


def test_arch_unknown_to_this_libseccomp() -> None:
    with pytest.raises(SeccompUnsupported, match=r"^linux.seccomp.architectures\[0\]: SCMP_ARCH_SHEB is not supported by libseccomp"):
        bpf("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_SHEB"])


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="needs a little-endian machine")
def test_arch_of_the_other_byte_order_is_refused_by_name() -> None:
    with pytest.raises(SeccompUnsupported, match=r"^linux.seccomp.architectures\[1\]: SCMP_ARCH_S390X cannot share a filter"):
        bpf("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86", "SCMP_ARCH_S390X"])
