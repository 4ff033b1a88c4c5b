"""What ``ketch-runtime features`` reports under ``linux.seccomp`` (runtime-spec features-linux.md).

Computed from what really works here: the actions the kernel implements (SECCOMP_GET_ACTION_AVAIL), the
architectures the installed libseccomp resolves, the flags the kernel accepts.
"""

from __future__ import annotations

from typing import Any

from ketch.linux.seccomp import action_available
from ketch.runtime.seccomp import libseccomp
from ketch.runtime.seccomp.errors import SeccompUnsupported
from ketch.runtime.seccomp.names import ACTIONS, ARCHES, FLAGS, OPERATORS, RET_USER_NOTIF
from ketch.runtime.seccomp.prepare import kernel_supports_flag

__all__ = ["LIBSECCOMP_VERSION_ANNOTATION", "features"]

# The annotation runc puts in its features output for the libseccomp in use.
LIBSECCOMP_VERSION_ANNOTATION = "io.github.seccomp.libseccomp.version"

_NOTIFY_API_LEVEL = 6  # libseccomp API level with user notification support (libseccomp 2.5, Linux 5.7)


def features() -> dict[str, Any]:
    """The ``linux.seccomp`` object of the features document: ``{"enabled": False}`` without libseccomp."""
    try:
        lib = libseccomp.library()
    except SeccompUnsupported:
        return {"enabled": False}
    api = lib.seccomp_api_get()
    actions = []
    for name, ret in ACTIONS.items():
        if ret == RET_USER_NOTIF and api < _NOTIFY_API_LEVEL:
            continue
        if action_available(ret):
            actions.append(name)
    archs = [name for name, lib_name in ARCHES.items() if lib.seccomp_arch_resolve_name(lib_name.encode())]
    return {
        "enabled": True,
        "actions": sorted(actions),
        "operators": sorted(OPERATORS),
        "archs": sorted(archs),
        "knownFlags": sorted(FLAGS),
        "supportedFlags": sorted(name for name, bit in FLAGS.items() if kernel_supports_flag(bit)),
    }
