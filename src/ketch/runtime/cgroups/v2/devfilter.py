"""The cgroup v2 device controller as an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE), built as raw instructions.

The kernel runs the program on each device access with ``struct bpf_cgroup_dev_ctx`` (access_type = access
<< 16 | device type, major, minor) in r1; returning 1 allows, 0 denies (EPERM). The rules are the device
emulator's clean exceptions (devrules.Emulator), so v2 behaves exactly like v1 for the same config:
each exception is a block that returns its verdict when it matches, and the end returns the default.
"""

from __future__ import annotations

import struct

from ketch.runtime.cgroups.devrules import WILDCARD, Emulator

__all__ = ["LICENSE", "program"]

LICENSE = "Apache"

# struct bpf_insn opcodes used here (include/uapi/linux/bpf_common.h, bpf.h)
LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
ALU32_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: dst &= imm (32-bit)
ALU32_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K: dst >>= imm (32-bit)
ALU32_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X: dst = src (32-bit)
MOV64_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto pc + off
JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X: if dst != src goto pc + off
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: if dst == imm goto pc + off
EXIT = 0x95  # BPF_JMP | BPF_EXIT

DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4  # BPF_DEVCG_ACC_*
_ACCESS = {1: ACC_READ, 2: ACC_WRITE, 4: ACC_MKNOD}  # devrules bits (r=1 w=2 m=4) -> BPF_DEVCG_ACC_*


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte ``struct bpf_insn`` (little-endian: x86_64 and aarch64)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _access_bits(rule_access: int) -> int:
    return sum(bpf for bit, bpf in _ACCESS.items() if rule_access & bit)


def program(emu: Emulator) -> bytes:
    """The filter for the device state ``emu`` as raw instructions."""
    # r2 = device type, r3 = requested access, r4 = major, r5 = minor
    prologue = [
        insn(LDX_MEM_W, 2, 1, 0),
        insn(ALU32_AND_K, 2, imm=0xFFFF),
        insn(LDX_MEM_W, 3, 1, 0),
        insn(ALU32_RSH_K, 3, imm=16),
        insn(LDX_MEM_W, 4, 1, 4),
        insn(LDX_MEM_W, 5, 1, 8),
    ]
    blocks: list[list[tuple[int, int, int, int, int, bool]]] = []  # per rule: insns, jumps marked True
    for rule in emu.rules():
        block: list[tuple[int, int, int, int, int, bool]] = []
        block.append((JNE_K, 2, 0, 0, DEV_BLOCK if rule.kind == "b" else DEV_CHAR, True))
        acc = _access_bits(rule.access)
        if acc != ACC_MKNOD | ACC_READ | ACC_WRITE:
            block.append((ALU32_MOV_X, 1, 3, 0, 0, False))
            block.append((ALU32_AND_K, 1, 0, 0, acc, False))
            if rule.allow:
                # an allow exception must cover the whole request: (req & acc) == req
                block.append((JNE_X, 1, 3, 0, 0, True))
            else:
                # a deny exception matches any overlap, as the kernel's v1 check does (match_exception_
                # partial): a "w" deny must also stop an "rw" open
                block.append((JEQ_K, 1, 0, 0, 0, True))
        if rule.major != WILDCARD:
            block.append((JNE_K, 4, 0, 0, rule.major, True))
        if rule.minor != WILDCARD:
            block.append((JNE_K, 5, 0, 0, rule.minor, True))
        block.append((MOV64_K, 0, 0, 0, 1 if rule.allow else 0, False))
        block.append((EXIT, 0, 0, 0, 0, False))
        blocks.append(block)
    out = list(prologue)
    for block in blocks:
        for i, (code, dst, src, _, imm, jumps) in enumerate(block):
            # a mismatch jumps past the rest of this block, to the next rule (or the default)
            off = len(block) - i - 1 if jumps else 0
            out.append(insn(code, dst, src, off, imm))
    out.append(insn(MOV64_K, 0, imm=1 if emu.default_allow else 0))
    out.append(insn(EXIT))
    return b"".join(out)
