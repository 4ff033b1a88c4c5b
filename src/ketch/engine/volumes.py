"""Named volumes: ``<root>/volumes/<name>/_data`` plus ``meta.json`` (created time, labels)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from typing import Any

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch.engine.errors import Conflict, NotFound, UsageError

__all__ = ["VolumeStore"]

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


class VolumeStore:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "volumes")
        os.makedirs(self.dir, 0o700, exist_ok=True)

    def _check(self, name: str) -> str:
        if not _NAME.match(name):
            raise UsageError(f"invalid volume name {name!r}", hint="names are [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        return name

    def data_path(self, name: str) -> str:
        return os.path.join(self.dir, self._check(name), "_data")

    def exists(self, name: str) -> bool:
        return os.path.isdir(self.data_path(name))

    def create(self, name: str, *, exist_ok: bool = False) -> dict[str, Any]:
        path = os.path.join(self.dir, self._check(name))
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if exist_ok:
                return self.inspect(name)
            raise Conflict(f"volume {name!r} already exists") from None
        os.mkdir(os.path.join(path, "_data"), 0o755)
        meta = {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_atomic(os.path.join(path, "meta.json"), dumps_pretty(meta))
        return self.inspect(name)

    def inspect(self, name: str) -> dict[str, Any]:
        path = os.path.join(self.dir, self._check(name))
        try:
            with open(os.path.join(path, "meta.json"), "rb") as f:
                meta: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no such volume: {name}", hint="'ketch volume ls' lists volumes") from None
        meta["mountpoint"] = os.path.join(path, "_data")
        return meta

    def names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.dir) if os.path.isfile(os.path.join(self.dir, n, "meta.json")))

    def remove(self, name: str, users: list[str]) -> None:
        self.inspect(name)
        if users:
            raise Conflict(
                f"volume {name!r} is in use by container {users[0]}", hint="remove the container first"
            )
        path = os.path.join(self.dir, name)
        doomed = os.path.join(self.dir, f".rm-{name}-{os.getpid()}")
        os.rename(path, doomed)
        shutil.rmtree(doomed)
