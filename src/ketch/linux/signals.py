"""Signal numbers and handlers without the ``signal`` module's enum wrappers (a few ms of start-up that
every ``ketch-runtime`` call would pay)."""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["FORWARDABLE", "SIGCHLD", "SIGKILL", "SIGTERM", "SIG_DFL", "SIG_IGN", "set_handler"]

SIGKILL: int = _signal.SIGKILL
SIGTERM: int = _signal.SIGTERM
SIGCHLD: int = _signal.SIGCHLD
SIGWINCH: int = _signal.SIGWINCH
SIG_DFL: int = _signal.SIG_DFL
SIG_IGN: int = _signal.SIG_IGN
NSIG: int = _signal.NSIG

# signals `run` passes on to the container: all but those that cannot be caught or concern us alone
_NOT_FORWARDED = {_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD, _signal.SIGWINCH, _signal.SIGURG, _signal.SIGPIPE}
FORWARDABLE: tuple[int, ...] = tuple(s for s in range(1, 32) if s not in _NOT_FORWARDED)


def set_handler(signum: int, handler: Callable[[int, Any], None] | int) -> Any:
    """signal.signal(); returns the previous handler."""
    return _signal.signal(signum, handler)
