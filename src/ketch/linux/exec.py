"""Executing programs by file descriptor, and sealed in-memory executables.

The runtime never lets a container see a host binary it could write to. The last step of a container's init
execs a sealed memfd holding a tiny static program (:func:`exec_stub`), which execs the container's program;
so ``/proc/<pid>/exe`` of anything the container can reach is either its own binary or a memfd that refuses
writes (CVE-2019-5736, where a container overwrote runc through /proc/self/exe). The stub is static because
the container's root has no dynamic loader of the host's.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os

from ketch.linux._libc import check, libc, syscall

__all__ = ["AT_EMPTY_PATH", "exec_stub", "execve_fd", "sealed_copy", "sealed_memfd"]

AT_EMPTY_PATH = 0x1000

_F_ADD_SEALS = 1033
_F_SEAL_SEAL = 0x1
_F_SEAL_SHRINK = 0x2
_F_SEAL_GROW = 0x4
_F_SEAL_WRITE = 0x8


# The stub's whole program: execve(argv[0], &argv[1], envp), then exit(127) if that failed. Called as
# [path, arg0, arg1, ...] it runs ``path`` with argv [arg0, arg1, ...] and the stub's own environment.
_STUB_CODE = {
    "x86_64": bytes.fromhex(
        "488b7c2408"  # mov rdi, [rsp+8]        argv[0]
        "488d742410"  # lea rsi, [rsp+16]       &argv[1]
        "488b0424"  # mov rax, [rsp]            argc
        "488d54c410"  # lea rdx, [rsp+rax*8+16] envp
        "b83b000000"  # mov eax, 59             execve
        "0f05"  # syscall
        "bf7f000000"  # mov edi, 127
        "b8e7000000"  # mov eax, 231            exit_group
        "0f05"  # syscall
    ),
    "aarch64": b"".join(
        w.to_bytes(4, "little")
        for w in (
            0xF94007E0,  # ldr x0, [sp, #8]          argv[0]
            0x910043E1,  # add x1, sp, #16           &argv[1]
            0xF94003E3,  # ldr x3, [sp]              argc
            0x8B236FE2,  # add x2, sp, x3, uxtx #3
            0x91004042,  # add x2, x2, #16           envp
            0xD2801BA8,  # mov x8, #221              execve
            0xD4000001,  # svc #0
            0xD2800FE0,  # mov x0, #127
            0xD2800BC8,  # mov x8, #94               exit_group
            0xD4000001,  # svc #0
        )
    ),
}
_ELF_MACHINE = {"x86_64": 0x3E, "aarch64": 0xB7}


def exec_stub(machine: str | None = None) -> bytes:
    """A minimal static ELF executable for this machine that execs its argv[0] (see ``_STUB_CODE``)."""
    import struct

    arch = machine or os.uname().machine
    code = _STUB_CODE[arch]
    base = 0x400000
    header_size = 64 + 56
    total = header_size + len(code)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, _ELF_MACHINE[arch], 1, base + header_size, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)
    return ehdr + phdr + code


def sealed_memfd(data: bytes, name: str = "ketch-exec") -> int:
    """A close-on-exec memfd holding ``data``, sealed against every change."""
    mfd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(mfd, view) :]
        fcntl.fcntl(mfd, _F_ADD_SEALS, _F_SEAL_SEAL | _F_SEAL_SHRINK | _F_SEAL_GROW | _F_SEAL_WRITE)
    except BaseException:
        os.close(mfd)
        raise
    return mfd


def sealed_copy(path: str, name: str = "ketch-exec") -> int:
    """Copy ``path`` into a memfd sealed against every change; returns the fd (close-on-exec).

    The memfd is opened close-on-exec: exec it through ``execve_fd`` (which uses /proc/self/fd, or
    execveat(AT_EMPTY_PATH) where /proc is not mounted). An ELF binary only: a script could not be run from a
    close-on-exec fd.
    """
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(src).st_size
        mfd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            offset = 0
            while offset < size:
                sent = os.sendfile(mfd, src, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
            fcntl.fcntl(mfd, _F_ADD_SEALS, _F_SEAL_SEAL | _F_SEAL_SHRINK | _F_SEAL_GROW | _F_SEAL_WRITE)
        except BaseException:
            os.close(mfd)
            raise
        return mfd
    finally:
        os.close(src)


def _cstrings(items: list[str]) -> ctypes.Array[ctypes.c_char_p]:
    arr = (ctypes.c_char_p * (len(items) + 1))()
    for i, item in enumerate(items):
        arr[i] = os.fsencode(item)
    arr[len(items)] = None
    return arr


_execve = libc.execve
_execve.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p]


def execve_fd(fd: int, argv: list[str], env: list[str]) -> None:
    """Replace this process with the program open on ``fd``. Returns only by raising OSError.

    Uses execve("/proc/self/fd/N") first, so a seccomp profile need only allow execve, and falls back to
    execveat(fd, "", AT_EMPTY_PATH) where /proc is not mounted.
    """
    c_argv = _cstrings(argv)
    c_env = _cstrings(env)
    path = f"/proc/self/fd/{fd}".encode()
    _execve(path, ctypes.cast(c_argv, ctypes.c_void_p), ctypes.cast(c_env, ctypes.c_void_p))
    err = ctypes.get_errno()
    if err != errno.ENOENT:  # ENOENT: /proc is not mounted here; try execveat
        raise OSError(err, f"execve: {os.strerror(err)}", argv[0] if argv else "")
    syscall(
        "execveat",
        ctypes.c_int(fd),
        ctypes.c_char_p(b""),
        ctypes.cast(c_argv, ctypes.c_void_p),
        ctypes.cast(c_env, ctypes.c_void_p),
        ctypes.c_int(AT_EMPTY_PATH),
        path=argv[0] if argv else "",
    )
    check(-1, "execveat")
