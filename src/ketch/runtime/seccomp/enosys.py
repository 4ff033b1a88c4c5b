"""The ENOSYS prologue: system calls newer than every one the profile names fail with ENOSYS, not EPERM.

A profile written before a system call existed cannot mention it, so under a denying default action it would
get the default errno (usually EPERM). Programs and libcs probe new calls (clone3, faccessat2, statx, ...) and
fall back to older ones only on ENOSYS; on EPERM they fail. runc solves this by prepending a stub to
libseccomp's program; this module does the same, with its own code:

for each architecture in the filter, a call whose number is above the highest number any rule of the profile
names on that architecture returns ``SECCOMP_RET_ERRNO | ENOSYS``; everything else falls through to the
libseccomp program unchanged. Like runc's, the rule is a heuristic: a syscall added out of numbering order
(a hole below the highest known number) still gets the default action. Not applied when the default action
already lets calls through (ALLOW, LOG, TRACE).

Classic BPF only jumps forward, so prepending code keeps every jump of the program after it valid.
"""

from __future__ import annotations

import errno
import struct

from ketch.runtime.seccomp.names import RET_ERRNO

__all__ = ["AUDIT_ARCH_X86_64", "X32_SYSCALL_BIT", "enosys_prologue"]

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
_SCMP_ARCH_X32 = 0x4000003E  # libseccomp's token for x32 (x86_64 audit arch, syscall numbers with bit 30)

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGT_K = 0x25
_JSET_K = 0x45
_JA = 0x05
_RET_K = 0x06
_OFF_NR = 0  # struct seccomp_data.nr
_OFF_ARCH = 4  # struct seccomp_data.arch

_ENOSYS = "enosys"
_FILTER = "filter"


class _Asm:
    """Forward-only classic-BPF assembler with symbolic labels."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str | int, str | int, str | int] | str] = []

    def op(self, code: int, jt: str | int = 0, jf: str | int = 0, k: str | int = 0) -> None:
        self.items.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.items.append(name)

    def assemble(self) -> bytes:
        where: dict[str, int] = {}
        pc = 0
        for item in self.items:
            if isinstance(item, str):
                where[item] = pc
            else:
                pc += 1
        where.setdefault(_FILTER, pc)  # the libseccomp program starts right after the prologue
        out = bytearray()
        pc = 0
        for item in self.items:
            if isinstance(item, str):
                continue
            code, jt, jf, k = item

            def rel(target: str | int, pc: int = pc) -> int:
                return where[target] - pc - 1 if isinstance(target, str) else target

            rjt, rjf, rk = rel(jt), rel(jf), rel(k)
            if not (0 <= rjt <= 255 and 0 <= rjf <= 255 and rk >= 0):  # pragma: no cover - prologue is short
                raise ValueError("seccomp prologue jump out of range")
            out += struct.pack("=HBBI", code, rjt, rjf, rk)
            pc += 1
        return bytes(out)


def enosys_prologue(max_nr: dict[int, int]) -> bytes:
    """BPF to put in front of a libseccomp program.

    ``max_nr`` maps libseccomp arch tokens (which are the AUDIT_ARCH_* values, except x32) to the highest
    system call number the profile names on that arch. Returns b"" when there is nothing to guard.
    """
    if not max_nr:
        return b""
    by_audit: dict[int, dict[str, int]] = {}
    for token, nr in max_nr.items():
        if token == _SCMP_ARCH_X32:
            by_audit.setdefault(AUDIT_ARCH_X86_64, {})["x32"] = nr
        else:
            by_audit.setdefault(token, {})["plain"] = nr
    asm = _Asm()
    asm.op(_LD_W_ABS, k=_OFF_ARCH)
    for n, (audit, limits) in enumerate(sorted(by_audit.items())):
        nxt = f"arch{n + 1}"
        asm.op(_JEQ_K, 0, nxt, audit)
        asm.op(_LD_W_ABS, k=_OFF_NR)
        if audit == AUDIT_ARCH_X86_64:
            # x32 calls come in on the x86_64 audit arch with bit 30 set in the number
            asm.op(_JSET_K, f"x32_{n}", 0, X32_SYSCALL_BIT)
            _limit(asm, limits.get("plain"))
            asm.label(f"x32_{n}")
            _limit(asm, limits.get("x32"))
        else:
            _limit(asm, limits.get("plain"))
        asm.label(nxt)  # reached only on an arch mismatch, so the accumulator still holds the arch
    asm.op(_JA, k=_FILTER)
    asm.label(_ENOSYS)
    asm.op(_RET_K, k=RET_ERRNO | errno.ENOSYS)
    asm.label(_FILTER)
    return asm.assemble()


def _limit(asm: _Asm, highest: int | None) -> None:
    if highest is not None:
        asm.op(_JGT_K, _ENOSYS, 0, highest)
    asm.op(_JA, k=_FILTER)
