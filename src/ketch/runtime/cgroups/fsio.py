"""Reading and writing cgroupfs files, turning OSError into CgroupError that names the config field."""

from __future__ import annotations

import errno
import os

from ketch.runtime.cgroups.errors import CgroupBusyError, CgroupConfigError, CgroupError

__all__ = [
    "exists",
    "read_int",
    "read_keyed",
    "read_text",
    "write",
]


def exists(directory: str, name: str) -> bool:
    return os.path.exists(os.path.join(directory, name))


def write(directory: str, name: str, value: str | int, field: str) -> None:
    """Write ``value`` to ``directory/name`` in one write(2), as cgroupfs wants.

    ``field`` is the config field being applied (``linux.resources.memory.limit``), named in any error.
    """
    path = os.path.join(directory, name)
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CgroupConfigError(f"{field}: this host has no {name} (in {directory})") from None
    except OSError as exc:
        raise CgroupError(f"{field}: cannot open {path}: {exc.strerror}") from None
    try:
        os.write(fd, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EBUSY:
            reason += " (the value is below the current usage, or conflicts with a child cgroup)"
        elif exc.errno == errno.EINVAL:
            reason += " (the kernel rejected the value)"
        elif exc.errno == errno.EPERM:
            reason += " (the parent cgroup does not allow it)"
        raise CgroupConfigError(f"{field}: writing {value!s} to {path}: {reason}") from None
    finally:
        os.close(fd)


def read_text(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        raise CgroupError(f"{path}: no such cgroup file") from None
    except OSError as exc:
        raise CgroupError(f"{path}: {exc.strerror}") from None


def read_int(directory: str, name: str, default: int | None = None) -> int:
    """A file holding one integer; ``max`` reads as -1. With ``default``, a missing file gives it."""
    if default is not None and not exists(directory, name):
        return default
    text = read_text(directory, name).strip()
    if text == "max":
        return -1
    try:
        return int(text)
    except ValueError:
        raise CgroupError(f"{os.path.join(directory, name)}: expected a number, got {text!r}") from None


def read_keyed(directory: str, name: str, missing_ok: bool = True) -> dict[str, int]:
    """A flat keyed file (``key value`` a line: memory.stat, cpu.stat, memory.events)."""
    if missing_ok and not exists(directory, name):
        return {}
    out: dict[str, int] = {}
    for line in read_text(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def rmdir_retrying(path: str, attempts: int = 20) -> None:
    """Remove a cgroup directory; EBUSY (exiting tasks not yet reaped by the kernel) is retried briefly."""
    import time

    delay = 0.005
    for attempt in range(attempts):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or attempt == attempts - 1:
                why = "it still has processes or child cgroups" if exc.errno == errno.EBUSY else exc.strerror
                raise CgroupBusyError(f"cannot remove cgroup {path}: {why}") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
