"""The RuntimeDefault seccomp profile: Docker's default allow-list, the one Kubernetes' RuntimeDefault means
with containerd and CRI-O, produced here as data for the CRI server and the user CLI.

It denies (EPERM) every system call it does not list. Always allowed: the ordinary calls of a program.
Allowed only with a capability in the container's bounding set: the calls that capability guards (mount,
unshare, setns, bpf... with CAP_SYS_ADMIN; ptrace with CAP_SYS_PTRACE; ...). Never allowed: keyctl,
add_key and request_key (the kernel keyring is not namespaced), kexec, swapon/off, userfaultfd, and every call
the lists below leave out. Without CAP_SYS_ADMIN, clone may not create namespaces and clone3 gets ENOSYS so
libcs fall back to clone, whose flags a classic filter can check (clone3 passes them in memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["runtime_default_profile"]

_ENOSYS = 38
_EPERM = 1

# CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP
_CLONE_NAMESPACE_FLAGS = (
    0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000
)

# Every architecture of a machine -> the spec names of the ABIs its processes can call the kernel with.
_ARCH_ABIS: dict[str, tuple[str, ...]] = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "mips64": ("SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
    "mips64el": ("SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
    "s390x": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "ppc64le": ("SCMP_ARCH_PPC64LE",),
    "riscv64": ("SCMP_ARCH_RISCV64",),
}

_ALWAYS = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal
pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd
signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink
symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
writev
"""


class _Group(NamedTuple):
    names: str  # space separated
    caps: tuple[str, ...] = ()  # allowed only if one of these is in the bounding set
    without_caps: tuple[str, ...] = ()  # left out if one of these is in the bounding set
    machines: tuple[str, ...] = ()  # only on these machine architectures
    not_machines: tuple[str, ...] = ()
    args: tuple[tuple[int, int, int, str], ...] = ()  # (index, value, valueTwo, op)
    errno: int | None = None  # SCMP_ACT_ERRNO with this errno instead of SCMP_ACT_ALLOW


_GROUPS: tuple[_Group, ...] = (
    _Group(_ALWAYS),
    # ptrace is safe without CAP_SYS_PTRACE since Linux 4.8 (seccomp is checked after the tracer's changes)
    _Group("process_vm_readv process_vm_writev ptrace"),
    _Group("socket", args=((0, 40, 0, "SCMP_CMP_NE"),)),  # not AF_VSOCK: it reaches the host
    *(
        _Group("personality", args=((0, v, 0, "SCMP_CMP_EQ"),))
        for v in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)
    ),
    _Group("sync_file_range2 swapcontext", machines=("ppc64le",)),
    _Group(
        "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
        machines=("aarch64", "armv7l"),
    ),
    _Group("arch_prctl", machines=("x86_64",)),
    _Group("modify_ldt", machines=("x86_64", "i686")),
    _Group("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", machines=("s390x",)),
    _Group("riscv_flush_icache", machines=("riscv64",)),
    _Group("open_by_handle_at", caps=("CAP_DAC_READ_SEARCH",)),
    _Group(
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr "
        "move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog "
        "umount umount2 unshare",
        caps=("CAP_SYS_ADMIN",),
    ),
    # clone without CAP_SYS_ADMIN: no namespace flags (s390 passes the flags as the second argument)
    _Group(
        "clone",
        without_caps=("CAP_SYS_ADMIN",),
        not_machines=("s390x",),
        args=((0, _CLONE_NAMESPACE_FLAGS, 0, "SCMP_CMP_MASKED_EQ"),),
    ),
    _Group(
        "clone",
        without_caps=("CAP_SYS_ADMIN",),
        machines=("s390x",),
        args=((1, _CLONE_NAMESPACE_FLAGS, 0, "SCMP_CMP_MASKED_EQ"),),
    ),
    _Group("clone3", without_caps=("CAP_SYS_ADMIN",), errno=_ENOSYS),
    _Group("reboot", caps=("CAP_SYS_BOOT",)),
    _Group("chroot", caps=("CAP_SYS_CHROOT",)),
    _Group("delete_module init_module finit_module", caps=("CAP_SYS_MODULE",)),
    _Group("acct", caps=("CAP_SYS_PACCT",)),
    _Group(
        "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace", caps=("CAP_SYS_PTRACE",)
    ),
    _Group("iopl ioperm", caps=("CAP_SYS_RAWIO",)),
    _Group("settimeofday stime clock_settime clock_settime64", caps=("CAP_SYS_TIME",)),
    _Group("vhangup", caps=("CAP_SYS_TTY_CONFIG",)),
    _Group("get_mempolicy mbind set_mempolicy set_mempolicy_home_node", caps=("CAP_SYS_NICE",)),
    _Group("syslog", caps=("CAP_SYSLOG",)),
    _Group("bpf", caps=("CAP_BPF",)),
    _Group("perf_event_open", caps=("CAP_PERFMON",)),
)


def runtime_default_profile(capabilities: Iterable[str] = (), machine: str | None = None) -> dict[str, Any]:
    """The RuntimeDefault profile as a ``linux.seccomp`` object for a container with ``capabilities``.

    ``capabilities`` is the container's bounding set (``CAP_*`` names); the profile widens with it, so a
    privileged container keeps mount and friends while an unprivileged one gets EPERM. ``machine`` is a
    ``os.uname().machine`` value, the running one by default.
    """
    caps = set(capabilities)
    machine = machine or os.uname().machine
    syscalls: list[dict[str, Any]] = []
    for g in _GROUPS:
        if g.caps and not caps.intersection(g.caps):
            continue
        if g.without_caps and caps.intersection(g.without_caps):
            continue
        if g.machines and machine not in g.machines:
            continue
        if machine in g.not_machines:
            continue
        entry: dict[str, Any] = {"names": g.names.split()}
        if g.errno is None:
            entry["action"] = "SCMP_ACT_ALLOW"
        else:
            entry["action"] = "SCMP_ACT_ERRNO"
            entry["errnoRet"] = g.errno
        if g.args:
            entry["args"] = [{"index": i, "value": v, "valueTwo": v2, "op": op} for i, v, v2, op in g.args]
        syscalls.append(entry)
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": _EPERM,
        "architectures": list(_ARCH_ABIS.get(machine, ())),
        "syscalls": syscalls,
    }
