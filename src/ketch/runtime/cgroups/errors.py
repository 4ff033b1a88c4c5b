"""Errors of the cgroup manager.

    CgroupError                      anything the cgroup side cannot do; the message names what is wrong
    ├── CgroupConfigError            a linux.resources / cgroupsPath value is invalid or this host cannot do it
    ├── CgroupDriverError            a cgroup driver (systemd) that is not available on this host
    └── CgroupBusyError              a cgroup still has processes (destroy) or would not freeze
"""

from __future__ import annotations

__all__ = ["CgroupBusyError", "CgroupConfigError", "CgroupDriverError", "CgroupError"]


class CgroupError(Exception):
    """Base of every cgroup failure."""


class CgroupConfigError(CgroupError):
    """A configuration value is invalid, or asks for something this host cannot do."""


class CgroupDriverError(CgroupError):
    """The requested cgroup driver is not available."""


class CgroupBusyError(CgroupError):
    """A cgroup is busy: it still has processes, or did not reach the requested freezer state."""
