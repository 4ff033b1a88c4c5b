"""Errors of the seccomp package.

::

    SeccompError                    anything seccomp refused to do
    ├── SeccompProfileError         the profile is wrong; the message names the field (``linux.seccomp.…``)
    ├── SeccompUnsupported          libseccomp or the kernel lacks what the profile asks for
    └── SeccompNotifyError          the fd could not be handed to the seccomp agent at ``listenerPath``
"""

from __future__ import annotations

__all__ = ["SeccompError", "SeccompNotifyError", "SeccompProfileError", "SeccompUnsupported"]


class SeccompError(Exception):
    """Base of every seccomp error."""


class SeccompProfileError(SeccompError, ValueError):
    """The profile (``linux.seccomp`` of config.json) is malformed; the message starts with the field path."""


class SeccompUnsupported(SeccompError):
    """libseccomp is missing or too old, or the kernel lacks a flag or action the profile asks for."""


class SeccompNotifyError(SeccompError):
    """Sending the listener fd and the container process state to ``listenerPath`` failed."""
