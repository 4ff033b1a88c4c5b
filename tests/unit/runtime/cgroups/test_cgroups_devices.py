"""Device rules: the emulator (v1 semantics), the v1 transition, and the v2 eBPF program run in a small
interpreter of the instructions it uses, checked against the emulator for every rule set."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from ketch.runtime.cgroups import CgroupConfigError
from ketch.runtime.cgroups.devrules import DEFAULT_ALLOWED, WILDCARD, Emulator, Rule, parse_rules
from ketch.runtime.cgroups.v2 import devfilter

R, W, M = 1, 2, 4


def rule(allow: bool, kind: str, major: int = WILDCARD, minor: int = WILDCARD, access: int = 7) -> Rule:
    return Rule(allow, kind, major, minor, access)


def test_parse_rules_defaults_and_errors() -> None:
    (r,) = parse_rules([{"allow": False}])
    assert r.key() == (False, "a", WILDCARD, WILDCARD, 7)
    (r,) = parse_rules([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}])
    assert r.cgroup_line() == "c 1:3 rw"
    with pytest.raises(CgroupConfigError, match=r"linux\.resources\.devices\[0\]\.access: 'rx'"):
        parse_rules([{"allow": True, "access": "rx"}])
    with pytest.raises(CgroupConfigError, match=r"devices\[1\]\.type: 'x' is not one of a, b, c"):
        parse_rules([{"allow": True}, {"allow": True, "type": "x"}])
    with pytest.raises(CgroupConfigError, match=r"devices\[0\]\.major: 4294967296 is above the maximum"):
        parse_rules([{"allow": True, "type": "c", "major": 1 << 32}])
    with pytest.raises(CgroupConfigError, match=r"devices\[0\]\.allow: required"):
        parse_rules([{"type": "c"}])


def test_deny_all_then_allows_is_a_white_list() -> None:
    rules = parse_rules([{"allow": False, "access": "rwm"}]) + list(DEFAULT_ALLOWED)
    emu = Emulator.from_rules(rules)
    assert not emu.default_allow
    assert emu.allows("c", 1, 3, R | W)
    assert emu.allows("b", 8, 0, M) and not emu.allows("b", 8, 0, R)
    assert emu.allows("c", 136, 7, R | W)
    assert not emu.allows("c", 1, 1, R)  # /dev/mem


def test_later_rules_win_and_allow_all_resets() -> None:
    emu = Emulator.from_rules([rule(True, "c", 1, 3), rule(False, "c", 1, 3, W)])
    assert emu.allows("c", 1, 3, R) and not emu.allows("c", 1, 3, W)
    emu.apply(rule(True, "a"))
    assert emu.default_allow and emu.exceptions == {}
    emu.apply(rule(False, "b", 8, WILDCARD))
    assert not emu.allows("b", 8, 1, R) and emu.allows("b", 9, 1, R)


def test_a_partial_deny_in_a_black_list_denies_overlapping_requests() -> None:
    emu = Emulator.from_rules([rule(True, "a"), rule(False, "c", 1, 3, W)])
    assert not emu.allows("c", 1, 3, R | W) and emu.allows("c", 1, 3, R)
    code = devfilter.program(emu)
    assert not bpf_allows(code, "c", 1, 3, R | W) and bpf_allows(code, "c", 1, 3, R)


def test_punching_a_hole_in_a_wildcard_is_refused() -> None:
    emu = Emulator.from_rules([rule(True, "c", 136, WILDCARD)])
    with pytest.raises(CgroupConfigError, match="cannot punch a hole"):
        emu.apply(rule(False, "c", 136, 2))


def test_transition_from_default_allow_starts_with_deny_all() -> None:
    current = Emulator.from_list("a *:* rwm\n")
    target = Emulator.from_rules([rule(False, "a"), rule(True, "c", 1, 3), rule(True, "c", 1, 5, R)])
    lines = [(r.allow, r.cgroup_line()) for r in current.transition(target)]
    assert lines == [(False, "a *:* rwm"), (True, "c 1:3 rwm"), (True, "c 1:5 r")]


def test_transition_between_white_lists_writes_only_differences() -> None:
    current = Emulator.from_list("c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n")
    target = Emulator.from_rules([rule(True, "c", 1, 3), rule(True, "c", 1, 5, R), rule(True, "c", 1, 9)])
    lines = [(r.allow, r.cgroup_line()) for r in current.transition(target)]
    assert lines == [(False, "c 1:5 wm"), (False, "c 136:* rwm"), (True, "c 1:9 rwm")]
    assert current.transition(Emulator.from_list("c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n")) == []


# -- the eBPF program ------------------------------------------------------------------------------------


def run_bpf(code: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Interpret the few instructions devfilter emits, on a bpf_cgroup_dev_ctx."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    insns = [struct.unpack("<BBhi", code[i : i + 8]) for i in range(0, len(code), 8)]
    pc = 0
    for _ in range(10_000):
        op, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if op == devfilter.LDX_MEM_W:
            assert src == 1
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == devfilter.ALU32_AND_K:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif op == devfilter.ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == devfilter.ALU32_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == devfilter.MOV64_K:
            regs[dst] = imm
        elif op == devfilter.JNE_K:
            if regs[dst] != imm:
                pc += off
        elif op == devfilter.JEQ_K:
            if regs[dst] == imm:
                pc += off
        elif op == devfilter.JNE_X:
            if regs[dst] != regs[src]:
                pc += off
        elif op == devfilter.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
        assert 0 <= pc < len(insns), "jump out of the program"
    raise AssertionError("no exit")


BPF_ACC = {R: devfilter.ACC_READ, W: devfilter.ACC_WRITE, M: devfilter.ACC_MKNOD}


def bpf_allows(code: bytes, kind: str, major: int, minor: int, access: int) -> bool:
    acc = sum(b for bit, b in BPF_ACC.items() if access & bit)
    dev = devfilter.DEV_BLOCK if kind == "b" else devfilter.DEV_CHAR
    return run_bpf(code, dev, acc, major, minor) == 1


def test_program_matches_the_emulator_for_the_default_rules() -> None:
    emu = Emulator.from_rules([rule(False, "a"), *DEFAULT_ALLOWED, rule(False, "c", 1, 9, W)])
    code = devfilter.program(emu)
    for kind, major, minor, access in itertools.product("bc", (1, 5, 8, 136), (0, 2, 3, 9), range(1, 8)):
        assert bpf_allows(code, kind, major, minor, access) == emu.allows(kind, major, minor, access), (
            kind, major, minor, access)


def test_program_matches_the_emulator_for_random_rules() -> None:
    rng = random.Random(7)
    for _ in range(200):
        rules = []
        for _ in range(rng.randint(0, 6)):
            kind = rng.choice("abcc")
            major = rng.choice((WILDCARD, 1, 5))
            minor = rng.choice((WILDCARD, 3, 9))
            rules.append(rule(rng.random() < 0.6, kind, major, minor, rng.randint(1, 7)))
        try:
            emu = Emulator.from_rules(rules)
        except CgroupConfigError:
            continue
        code = devfilter.program(emu)
        for kind, major, minor, access in itertools.product("bc", (1, 5, 7), (3, 9, 4), (R, W, M, R | W, 7)):
            assert bpf_allows(code, kind, major, minor, access) == emu.allows(kind, major, minor, access), (
                rules, kind, major, minor, access)
