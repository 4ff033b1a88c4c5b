"""Seccomp for ketch-runtime: runtime-spec config-linux.md "Seccomp".

In the runtime, before forking the init::

    prog = prepare(spec["linux"]["seccomp"], cache_dir)   # validate; compile with libseccomp or load from cache

In the init, last thing before execve (``ketch.linux.seccomp``)::

    fd = load_filter(prog.bpf, prog.flags)                 # -1 unless prog.notify

With SCMP_ACT_NOTIFY the init passes ``fd`` to the runtime, which calls :func:`send_notify_fd`. See
docs/seccomp.md. The compiler (libseccomp through ctypes) is imported only on a cache miss.
"""

from __future__ import annotations

from ketch.runtime.seccomp.default_profile import runtime_default_profile
from ketch.runtime.seccomp.errors import (
    SeccompError,
    SeccompNotifyError,
    SeccompProfileError,
    SeccompUnsupported,
)
from ketch.runtime.seccomp.features import LIBSECCOMP_VERSION_ANNOTATION, features
from ketch.runtime.seccomp.notify import receive_notify_fd, send_notify_fd
from ketch.runtime.seccomp.prepare import PreparedFilter, prepare
from ketch.runtime.seccomp.profile import Profile, parse_profile

__all__ = [
    "LIBSECCOMP_VERSION_ANNOTATION",
    "PreparedFilter",
    "Profile",
    "SeccompError",
    "SeccompNotifyError",
    "SeccompProfileError",
    "SeccompUnsupported",
    "features",
    "parse_profile",
    "prepare",
    "receive_notify_fd",
    "runtime_default_profile",
    "send_notify_fd",
]
