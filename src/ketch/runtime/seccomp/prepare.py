"""Turn a ``linux.seccomp`` object into a filter the container's init can load with one system call.

Runs in the runtime process before it forks the init. On a cache hit it reads one file: libseccomp is only
dlopened (for its version, part of the cache key), and the compiler module is never imported.
"""

from __future__ import annotations

from ketch._common.record import Record
from ketch.linux.seccomp import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    flag_supported,
)
from ketch.runtime.seccomp import libseccomp
from ketch.runtime.seccomp.cache import cache_key, read_cached, write_cached
from ketch.runtime.seccomp.errors import SeccompUnsupported
from ketch.runtime.seccomp.names import FLAGS
from ketch.runtime.seccomp.profile import FIELD, Profile, parse_profile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PreparedFilter", "kernel_supports_flag", "prepare"]

_kernel_flags: dict[int, bool] = {}


class PreparedFilter(Record):
    """What the init needs: ``load_filter(bpf, flags)``; with ``notify``, the listener fd goes to the agent."""

    __slots__ = (
        "bpf",
        "flags",
        "notify",
        "listener_path",
        "listener_metadata",
        "skipped_syscalls",
        "key",
        "from_cache",
    )

    def __init__(self, bpf: bytes, flags: int, notify: bool, listener_path: str | None, listener_metadata: str, skipped_syscalls: tuple[str, ...], key: str, from_cache: bool) -> None:  # fmt: skip
        self.bpf = bpf
        self.flags = flags
        self.notify = notify
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.skipped_syscalls = skipped_syscalls
        self.key = key  # the cache key (SHA-256 hex)
        self.from_cache = from_cache


def kernel_supports_flag(flag: int) -> bool:
    """Whether the kernel accepts filter flag ``flag`` (probed once per process)."""
    if flag not in _kernel_flags:
        _kernel_flags[flag] = flag_supported(flag)
    return _kernel_flags[flag]


def _load_flags(profile: Profile) -> int:
    flags = 0
    notify = profile.notify
    for i, name in enumerate(profile.flags):
        bit = FLAGS[name]
        if bit == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not notify:
            continue  # only means something for a listener; the kernel refuses it without one
        if not kernel_supports_flag(bit):
            raise SeccompUnsupported(f"{FIELD}.flags[{i}]: {name} is not supported by this kernel")
        flags |= bit
    if notify:
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER
        if flags & SECCOMP_FILTER_FLAG_TSYNC:
            # TSYNC and NEW_LISTENER together need TSYNC_ESRCH (Linux 5.7): with plain TSYNC the return value
            # would be ambiguous between "listener fd" and "id of a thread that could not be synced".
            if not kernel_supports_flag(SECCOMP_FILTER_FLAG_TSYNC_ESRCH):
                raise SeccompUnsupported(
                    f"{FIELD}.flags: SECCOMP_FILTER_FLAG_TSYNC with SCMP_ACT_NOTIFY needs Linux 5.7 or later"
                )
            flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    return flags


def _log() -> Any:
    import logging

    return logging.getLogger("ketch.runtime.seccomp")


def prepare(seccomp_profile: object, cache_dir: str | None) -> PreparedFilter:
    """Validate ``seccomp_profile`` and return its compiled filter, from ``cache_dir`` when it is there.

    ``cache_dir`` (e.g. ``<state-root>/seccomp-cache``) is created on first use; None disables caching.
    Raises SeccompProfileError naming the field that is wrong, SeccompUnsupported when libseccomp or the
    kernel lacks something the profile needs. Unknown system call names are skipped with a warning on the
    ``ketch.runtime.seccomp`` logger and listed in ``skipped_syscalls``.
    """
    profile = parse_profile(seccomp_profile)
    flags = _load_flags(profile)
    key = cache_key(profile, libseccomp.version())
    compiled = read_cached(cache_dir, key) if cache_dir else None
    from_cache = compiled is not None
    if compiled is None:
        from ketch.runtime.seccomp.compiler import compile_profile

        compiled = compile_profile(profile)
        if cache_dir:
            try:
                write_cached(cache_dir, key, compiled)
            except OSError as e:  # the filter is good; only the next start pays for the compile again
                _log().warning("seccomp: cannot cache the compiled filter in %s: %s", cache_dir, e)
    if compiled.skipped:
        _log().warning(
            "seccomp: unknown system calls in %s.syscalls skipped: %s", FIELD, ", ".join(compiled.skipped)
        )
    return PreparedFilter(
        bpf=compiled.bpf,
        flags=flags,
        notify=profile.notify,
        listener_path=profile.listener_path,
        listener_metadata=profile.listener_metadata,
        skipped_syscalls=compiled.skipped,
        key=key,
        from_cache=from_cache,
    )
