"""v2 devices: compile the rules to an eBPF program and attach it to the cgroup (BPF_CGROUP_DEVICE).

Programs already attached by an earlier apply are detached after the new one is in place, so an update never
leaves the cgroup without a filter (multiple attached programs must all allow an access).
"""

from __future__ import annotations

import errno
import os

from ketch.linux import bpf
from ketch.runtime.cgroups.devrules import Emulator, F, Rule
from ketch.runtime.cgroups.errors import CgroupConfigError, CgroupError
from ketch.runtime.cgroups.v2.devfilter import LICENSE, program


def apply_rules(path: str, rules: list[Rule]) -> None:
    code = program(Emulator.from_rules(rules))
    try:
        dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupError(f"cannot open cgroup {path}: {exc.strerror}") from None
    try:
        try:
            old = bpf.prog_query(dirfd, bpf.BPF_CGROUP_DEVICE)[1]
        except OSError:
            old = []
        try:
            prog = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, code, LICENSE, "ketch_devices")
        except OSError as exc:
            why = "no permission (needs CAP_BPF or CAP_SYS_ADMIN)" if exc.errno == errno.EPERM else exc.strerror
            raise CgroupConfigError(f"{F}: cannot load the device eBPF program: {why}") from None
        try:
            try:
                bpf.prog_attach(dirfd, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
            except OSError as exc:
                raise CgroupConfigError(f"{F}: cannot attach the device eBPF program to {path}: {exc.strerror}") from None
            for prog_id in old:
                try:
                    old_fd = bpf.prog_get_fd_by_id(prog_id)
                except OSError:
                    continue
                try:
                    bpf.prog_detach(dirfd, old_fd, bpf.BPF_CGROUP_DEVICE)
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        raise CgroupError(f"{F}: cannot detach the old device program from {path}: {exc.strerror}") from None
                finally:
                    os.close(old_fd)
        finally:
            os.close(prog)
    finally:
        os.close(dirfd)


def attached(path: str) -> list[int]:
    """Ids of the device programs attached to the cgroup at ``path``."""
    dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bpf.prog_query(dirfd, bpf.BPF_CGROUP_DEVICE)[1]
    finally:
        os.close(dirfd)
