"""Seccomp for ketch-runtime: runtime-spec config-linux.md "Seccomp".

In the runtime, before forking the init::

    prog = prepare(spec["linux"]["seccomp"], cache_dir)   # validate; compile with libseccomp or load from cache

In the init, last thing before execve (``ketch.linux.seccomp``)::

    fd = load_filter(prog.bpf, prog.flags)                 # -1 unless prog.notify

With SCMP_ACT_NOTIFY the init passes ``fd`` to the runtime, which calls :func:`send_notify_fd`. See
docs/seccomp.md. Only ``prepare`` and the errors are imported eagerly (every container start needs them);
the rest loads on first use, and the compiler (libseccomp through ctypes) only on a cache miss.
"""

from __future__ import annotations

from ketch.runtime.seccomp.errors import (
    SeccompError,
    SeccompNotifyError,
    SeccompProfileError,
    SeccompUnsupported,
)
from ketch.runtime.seccomp.prepare import PreparedFilter, prepare

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


if TYPE_CHECKING:
    from ketch.runtime.seccomp.default_profile import runtime_default_profile
    from ketch.runtime.seccomp.features import LIBSECCOMP_VERSION_ANNOTATION, features
    from ketch.runtime.seccomp.libseccomp import version as libseccomp_version
    from ketch.runtime.seccomp.notify import receive_notify_fd, send_notify_fd
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
    "libseccomp_version",
    "parse_profile",
    "prepare",
    "receive_notify_fd",
    "runtime_default_profile",
    "send_notify_fd",
]

# public name -> (module, attribute), imported on first access
_LAZY = {
    "LIBSECCOMP_VERSION_ANNOTATION": ("features", "LIBSECCOMP_VERSION_ANNOTATION"),
    "Profile": ("profile", "Profile"),
    "features": ("features", "features"),
    "libseccomp_version": ("libseccomp", "version"),
    "parse_profile": ("profile", "parse_profile"),
    "receive_notify_fd": ("notify", "receive_notify_fd"),
    "runtime_default_profile": ("default_profile", "runtime_default_profile"),
    "send_notify_fd": ("notify", "send_notify_fd"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    # __import__, not importlib.import_module: the importlib package (and warnings) would load on every start
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[attribute]), attribute)
    globals()[name] = value
    return value
