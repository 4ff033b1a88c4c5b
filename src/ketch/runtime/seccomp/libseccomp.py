"""A ctypes binding of the few libseccomp (``libseccomp.so.2``) calls the compiler needs.

Loaded lazily: :func:`version` only dlopens the library (about 0.1 ms) so a cache lookup can key on it;
nothing here runs in the container's init.
"""

from __future__ import annotations

import ctypes
import os

from ketch.runtime.seccomp.errors import SeccompUnsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = [
    "ARG_CMP",
    "ATTR_ACT_BADARCH",
    "ATTR_CTL_OPTIMIZE",
    "NR_ERROR",
    "library",
    "strerror",
    "version",
]

SONAME = "libseccomp.so.2"
NR_ERROR = -1  # __NR_SCMP_ERROR: seccomp_syscall_resolve_name*() found no such system call

# enum scmp_filter_attr
ATTR_ACT_BADARCH = 2
ATTR_CTL_OPTIMIZE = 8


class ARG_CMP(ctypes.Structure):
    """struct scmp_arg_cmp"""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


_lib: Any = None


def library() -> Any:
    """The loaded libseccomp with argument and result types set; SeccompUnsupported if it is missing."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(SONAME)
    except OSError as e:
        raise SeccompUnsupported(f"{SONAME} cannot be loaded ({e}); install libseccomp2") from None
    vp, u32, c_int, c_uint, c_char_p = (
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_char_p,
    )
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "seccomp_version": (ctypes.POINTER(_Version), []),
        "seccomp_api_get": (c_uint, []),
        "seccomp_init": (vp, [u32]),
        "seccomp_release": (None, [vp]),
        "seccomp_arch_native": (u32, []),
        "seccomp_arch_resolve_name": (u32, [c_char_p]),
        "seccomp_arch_add": (c_int, [vp, u32]),
        "seccomp_arch_exist": (c_int, [vp, u32]),
        "seccomp_attr_set": (c_int, [vp, c_int, u32]),
        "seccomp_syscall_resolve_name": (c_int, [c_char_p]),
        "seccomp_syscall_resolve_name_arch": (c_int, [u32, c_char_p]),
        "seccomp_rule_add_array": (c_int, [vp, u32, c_int, c_uint, ctypes.POINTER(ARG_CMP)]),
        "seccomp_export_bpf": (c_int, [vp, c_int]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def version() -> str:
    """libseccomp's version, ``"2.5.4"``; SeccompUnsupported if the library is missing."""
    v = library().seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def strerror(rc: int) -> str:
    """libseccomp returns ``-errno``; name it."""
    return os.strerror(-rc) if rc < 0 else f"code {rc}"
