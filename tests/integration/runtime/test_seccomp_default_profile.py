"""The RuntimeDefault profile applied to real processes: ordinary programs work; unshare, mount and keyctl
are denied to a container without CAP_SYS_ADMIN, and allowed again (unshare, mount) when it has it."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest

from ketch.runtime.seccomp import prepare, runtime_default_profile
from ketch.testing import busybox_path
from ketch.testing.seccomp import private_mount_namespace, run_under_filter

pytestmark = pytest.mark.root

_KEYCTL = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
_KEYCTL_GET_KEYRING_ID = 0
_KEY_SPEC_SESSION_KEYRING = -3

UNPRIVILEGED_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]  # the default set of a container runtime


@pytest.fixture(scope="module")
def unprivileged() -> tuple[bytes, int]:
    prog = prepare(runtime_default_profile(UNPRIVILEGED_CAPS), None)
    return prog.bpf, prog.flags


def test_ordinary_programs_work(unprivileged: tuple[bytes, int], tmp_path: Path) -> None:
    bb = busybox_path()
    (tmp_path / "f").write_text("content\n")
    script = f"ls {tmp_path} && cat {tmp_path}/f && mkdir {tmp_path}/d && echo hi > {tmp_path}/d/x && {bb} id -u"
    r = run_under_filter(*unprivileged, [bb, "sh", "-c", script])
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == ["f", "content", "0"], r
    assert (tmp_path / "d" / "x").read_text() == "hi\n"


def test_unshare_and_mount_are_denied_without_sys_admin(unprivileged: tuple[bytes, int], tmp_path: Path) -> None:
    bb = busybox_path()
    r = run_under_filter(*unprivileged, [bb, "unshare", "-m", bb, "true"])
    assert r.exit_code != 0 and os.strerror(errno.EPERM) in r.stderr, r
    (tmp_path / "mnt").mkdir()
    r = run_under_filter(
        *unprivileged, [bb, "mount", "-t", "tmpfs", "none", str(tmp_path / "mnt")], setup=private_mount_namespace
    )
    assert r.exit_code != 0 and "permission denied" in r.stderr, r  # busybox's words for EPERM from mount(2)
    # the same mount without the filter works (so the denial above is the filter's)
    r = run_under_filter(
        prepare({"defaultAction": "SCMP_ACT_ALLOW"}, None).bpf, 0,
        [bb, "mount", "-t", "tmpfs", "none", str(tmp_path / "mnt")], setup=private_mount_namespace,
    )
    assert r.exit_code == 0, r


def test_keyctl_is_denied(unprivileged: tuple[bytes, int]) -> None:
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long

    def child() -> int:
        ctypes.set_errno(0)
        ret = syscall(_KEYCTL, _KEYCTL_GET_KEYRING_ID, _KEY_SPEC_SESSION_KEYRING, 0)
        return 0 if ret == -1 and ctypes.get_errno() == errno.EPERM else 7

    assert run_under_filter(*unprivileged, child).exit_code == 0
    # unfiltered, the same call reaches the kernel's keyring code (a key id, or a keyring error, not EPERM)
    ctypes.set_errno(0)
    ret = syscall(_KEYCTL, _KEYCTL_GET_KEYRING_ID, _KEY_SPEC_SESSION_KEYRING, 0)
    assert ret > 0 or ctypes.get_errno() != errno.EPERM


def test_sys_admin_widens_the_profile(tmp_path: Path) -> None:
    bb = busybox_path()
    prog = prepare(runtime_default_profile([*UNPRIVILEGED_CAPS, "CAP_SYS_ADMIN"]), None)
    r = run_under_filter(prog.bpf, prog.flags, [bb, "unshare", "-m", bb, "true"])
    assert r.exit_code == 0, r
    (tmp_path / "mnt").mkdir()
    r = run_under_filter(
        prog.bpf, prog.flags,
        [bb, "unshare", "-m", bb, "sh", "-c", f"{bb} mount -t tmpfs none {tmp_path}/mnt && {bb} touch {tmp_path}/mnt/x"],
    )
    assert r.exit_code == 0, r
    assert not (tmp_path / "mnt" / "x").exists()  # it was mounted in the child's own mount namespace
