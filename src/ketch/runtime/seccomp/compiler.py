"""Compile a validated :class:`Profile` into a raw seccomp BPF program with libseccomp.

Semantics follow runc's (libcontainer/seccomp) where the spec is silent:

- the native architecture is always in the filter; ``architectures`` adds more;
- a rule whose action equals the default action is redundant and skipped (libseccomp would refuse it);
- a system call name libseccomp does not know is skipped and reported (a profile may name calls of newer
  kernels); an unknown action, arch or operator never gets here (the profile parser rejects it);
- the ``args`` of one entry are ANDed into one rule, unless two of them test the same argument index, in
  which case each becomes a rule of its own (ORed), as runc does;
- for ``SCMP_CMP_MASKED_EQ`` ``value`` is the mask and ``valueTwo`` the value the masked argument must equal.

Then :mod:`ketch.runtime.seccomp.enosys` puts its ENOSYS prologue in front.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from ketch.runtime.seccomp import libseccomp
from ketch.runtime.seccomp.compiled import Compiled
from ketch.runtime.seccomp.enosys import enosys_prologue
from ketch.runtime.seccomp.errors import SeccompProfileError, SeccompUnsupported
from ketch.runtime.seccomp.names import ARCHES, OPERATORS
from ketch.runtime.seccomp.profile import ALLOW_LIKE_ACTIONS, FIELD, Arg, Profile

__all__ = ["compile_count", "compile_profile"]

# More rules than this and libseccomp is asked for a binary-tree filter (shorter paths through a long
# allow-list). libseccomp <= 2.5.4 misbehaves with the optimisation and no rules; runc uses the same bound.
_OPTIMIZE_OVER = 32

_compilations = 0


def compile_count() -> int:
    """How many times this process ran libseccomp to compile a filter (cache hits do not count)."""
    return _compilations


def compile_profile(profile: Profile) -> Compiled:
    """Build the filter; raises SeccompProfileError naming the field libseccomp refused, or SeccompUnsupported."""
    global _compilations
    lib = libseccomp.library()
    ctx = lib.seccomp_init(profile.default_ret)
    if not ctx:
        raise SeccompUnsupported(
            f"{FIELD}.defaultAction: libseccomp {libseccomp.version()} cannot use {profile.default_action} here"
        )
    try:
        tokens = _add_arches(lib, ctx, profile)
        if len(profile.rules) > _OPTIMIZE_OVER:
            lib.seccomp_attr_set(ctx, libseccomp.ATTR_CTL_OPTIMIZE, 2)  # best effort, as in runc
        skipped = _add_rules(lib, ctx, profile)
        program = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    prologue = b""
    if profile.default_action not in ALLOW_LIKE_ACTIONS:
        prologue = enosys_prologue(_highest_numbers(lib, profile, tokens))
    _compilations += 1
    return Compiled(prologue + program, skipped)


def _add_arches(lib: Any, ctx: Any, profile: Profile) -> list[int]:
    native = lib.seccomp_arch_native()
    tokens = [native]
    for i, name in enumerate(profile.architectures):
        token = lib.seccomp_arch_resolve_name(ARCHES[name].encode())
        if not token:
            raise SeccompUnsupported(
                f"{FIELD}.architectures[{i}]: {name} is not supported by libseccomp {libseccomp.version()}"
            )
        if token in tokens:
            continue
        rc = lib.seccomp_arch_add(ctx, token)
        if rc == -errno.EDOM:
            raise SeccompUnsupported(
                f"{FIELD}.architectures[{i}]: {name} cannot share a filter with this machine's architecture "
                "(different byte order)"
            )
        if rc < 0:
            raise SeccompUnsupported(
                f"{FIELD}.architectures[{i}]: libseccomp cannot add {name}: {libseccomp.strerror(rc)}"
            )
        tokens.append(token)
    return tokens


def _conditions(args: tuple[Arg, ...]) -> list[list[Arg]]:
    indexes = [a.arg_index for a in args]
    if len(set(indexes)) != len(indexes):
        return [[a] for a in args]  # two tests of one argument: OR them, one rule each (runc's rule)
    return [list(args)]


def _add_rules(lib: Any, ctx: Any, profile: Profile) -> tuple[str, ...]:
    skipped: list[str] = []
    for rule in profile.rules:
        if rule.ret == profile.default_ret:
            continue  # redundant with the default action
        groups = _conditions(rule.args) if rule.args else [[]]
        for name in rule.names:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == libseccomp.NR_ERROR:
                if name not in skipped:
                    skipped.append(name)
                continue
            for group in groups:
                array = (libseccomp.ARG_CMP * max(len(group), 1))()
                for j, a in enumerate(group):
                    array[j] = libseccomp.ARG_CMP(a.arg_index, OPERATORS[a.op], a.value, a.value_two)
                rc = lib.seccomp_rule_add_array(ctx, rule.ret, nr, len(group), array)
                if rc < 0:
                    raise SeccompProfileError(
                        f"{FIELD}.syscalls[{rule.position}]: libseccomp refused the rule for {name!r}: "
                        f"{libseccomp.strerror(rc)}"
                    )
    return tuple(skipped)


def _export(lib: Any, ctx: Any) -> bytes:
    # A memfd, not a pipe: a long program would fill a pipe and block the export.
    fd = os.memfd_create("ketch-seccomp-bpf", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SeccompUnsupported(f"libseccomp could not export the filter: {libseccomp.strerror(rc)}")
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _highest_numbers(lib: Any, profile: Profile, tokens: list[int]) -> dict[int, int]:
    highest: dict[int, int] = {}
    names = {name for rule in profile.rules for name in rule.names}
    for token in tokens:
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, name.encode()) for name in names]
        known = [n for n in numbers if n >= 0]  # negative: libseccomp's pseudo numbers, absent on this arch
        if known:
            highest[token] = max(known)
    return highest
