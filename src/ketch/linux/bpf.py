"""bpf(2): load a program and attach it to a cgroup, query and detach what is attached.

Only what the cgroup v2 device controller needs (BPF_PROG_TYPE_CGROUP_DEVICE programs attached with
BPF_CGROUP_DEVICE); the attribute layouts follow ``union bpf_attr`` in include/uapi/linux/bpf.h.
"""

from __future__ import annotations

import ctypes

from ketch.linux._libc import syscall

__all__ = [
    "BPF_CGROUP_DEVICE",
    "BPF_F_ALLOW_MULTI",
    "BPF_F_ALLOW_OVERRIDE",
    "BPF_F_REPLACE",
    "BPF_PROG_TYPE_CGROUP_DEVICE",
    "prog_attach",
    "prog_detach",
    "prog_get_fd_by_id",
    "prog_load",
    "prog_query",
]

# commands
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_DETACH = 9
_BPF_PROG_GET_FD_BY_ID = 13
_BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type

BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

_ATTR_SIZE = 128  # larger than every layout used here; the kernel checks the tail is zero


class _ProgLoad(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


class _ProgAttach(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("replace_bpf_fd", ctypes.c_uint32),
    ]


class _ProgQuery(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("query_flags", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("prog_ids", ctypes.c_uint64),
        ("prog_cnt", ctypes.c_uint32),
    ]


class _GetId(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32), ("next_id", ctypes.c_uint32), ("open_flags", ctypes.c_uint32)]


def _bpf(cmd: int, attr: ctypes.Structure, op: str, path: str | None = None) -> int:
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    ctypes.memmove(buf, ctypes.addressof(attr), ctypes.sizeof(attr))
    try:
        return syscall("bpf", ctypes.c_int(cmd), buf, ctypes.c_uint(_ATTR_SIZE), path=path)
    except OSError as exc:
        raise OSError(exc.errno, f"bpf({op}): {(exc.strerror or '').split(': ', 1)[-1]}", path) from None
    finally:
        # a query writes its answer back into the attribute block
        ctypes.memmove(ctypes.addressof(attr), buf, ctypes.sizeof(attr))


def prog_load(prog_type: int, insns: bytes, license: str = "Apache", name: str = "") -> int:
    """BPF_PROG_LOAD: verify and load ``insns`` (raw ``struct bpf_insn`` array); returns the program fd.

    On a verifier rejection the kernel's log is put into the OSError message.
    """
    if len(insns) % 8:
        raise ValueError("a BPF program is a whole number of 8-byte instructions")
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(1 << 16)
    attr = _ProgLoad(
        prog_type=prog_type,
        insn_cnt=len(insns) // 8,
        insns=ctypes.addressof(code),
        license=ctypes.addressof(lic),
        prog_name=name.encode()[:15],
    )
    try:
        return _bpf(_BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")
    except OSError as exc:
        # retry with the verifier log on, only to say why
        attr.log_level, attr.log_size, attr.log_buf = 1, len(log), ctypes.addressof(log)
        try:
            fd = _bpf(_BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")
        except OSError:
            text = log.value.decode(errors="replace").strip()
            raise OSError(exc.errno, f"{exc.strerror}; verifier: {text}" if text else str(exc.strerror)) from None
        return fd


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, replace_fd: int = 0) -> None:
    """BPF_PROG_ATTACH: attach ``prog_fd`` to the cgroup open at ``target_fd``."""
    attr = _ProgAttach(target_fd, prog_fd, attach_type, flags, replace_fd)
    _bpf(_BPF_PROG_ATTACH, attr, "BPF_PROG_ATTACH")


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    """BPF_PROG_DETACH: detach ``prog_fd`` from the cgroup open at ``target_fd``."""
    attr = _ProgAttach(target_fd, prog_fd, attach_type, 0, 0)
    _bpf(_BPF_PROG_DETACH, attr, "BPF_PROG_DETACH")


def prog_query(target_fd: int, attach_type: int, max_progs: int = 64) -> tuple[int, list[int]]:
    """BPF_PROG_QUERY: the attach flags and ids of the programs attached directly to the cgroup."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = _ProgQuery(target_fd, attach_type, 0, 0, ctypes.addressof(ids), max_progs)
    _bpf(_BPF_PROG_QUERY, attr, "BPF_PROG_QUERY")
    return attr.attach_flags, [ids[i] for i in range(min(attr.prog_cnt, max_progs))]


def prog_get_fd_by_id(prog_id: int) -> int:
    """BPF_PROG_GET_FD_BY_ID: a new fd on a loaded program."""
    return _bpf(_BPF_PROG_GET_FD_BY_ID, _GetId(prog_id, 0, 0), "BPF_PROG_GET_FD_BY_ID")
