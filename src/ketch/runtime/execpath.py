"""Finding the container's program the way execvp(3) will (runtime-spec: args[0] has execvp's semantics)."""

from __future__ import annotations

import os

__all__ = ["DEFAULT_PATH", "lookup"]

DEFAULT_PATH = "/bin:/usr/bin"  # glibc's confstr(_CS_PATH), which execvp uses when PATH is unset


def lookup(program: str, env: list[str]) -> str:
    """The file ``program`` names, checked to be executable; FileNotFoundError/PermissionError otherwise."""
    if "/" in program:
        if not os.path.exists(program):
            raise FileNotFoundError(2, f'exec: "{program}": no such file or directory')
        if os.path.isdir(program) or not os.access(program, os.X_OK):
            raise PermissionError(13, f'exec: "{program}": permission denied')
        return program
    path = DEFAULT_PATH
    for item in env:
        if item.startswith("PATH="):
            path = item[5:]
    denied = False
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = True
    if denied:
        raise PermissionError(13, f'exec: "{program}": permission denied')
    raise FileNotFoundError(2, f'exec: "{program}": executable file not found in $PATH')
