"""prctl(2) operations the runtime uses, and sethostname/setdomainname."""

from __future__ import annotations

import ctypes
import os

from ketch.linux._libc import check, libc

__all__ = [
    "drop_bounding_cap",
    "set_ambient_cap",
    "set_child_subreaper",
    "set_dumpable",
    "set_keepcaps",
    "set_name",
    "set_no_new_privs",
    "set_pdeathsig",
    "setdomainname",
    "sethostname",
]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_prctl = libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return check(_prctl(option, a2, a3, a4, a5), f"prctl({option})")


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_dumpable(on: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def set_keepcaps(on: bool) -> None:
    prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def set_name(name: str) -> None:
    buf = ctypes.create_string_buffer(name.encode()[:15])
    check(libc.prctl(PR_SET_NAME, buf, 0, 0, 0), "prctl(PR_SET_NAME)")


def set_child_subreaper(on: bool = True) -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def bounding_has(cap: int) -> bool:
    return prctl(PR_CAPBSET_READ, cap) == 1


def drop_bounding_cap(cap: int) -> None:
    prctl(PR_CAPBSET_DROP, cap)


def clear_ambient() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def set_ambient_cap(cap: int) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


_sethostname = libc.sethostname
_sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_setdomainname = libc.setdomainname
_setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def sethostname(name: str) -> None:
    raw = os.fsencode(name)
    check(_sethostname(raw, len(raw)), "sethostname", name)


def setdomainname(name: str) -> None:
    raw = os.fsencode(name)
    check(_setdomainname(raw, len(raw)), "setdomainname", name)
