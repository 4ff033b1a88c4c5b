"""Container records on disk: ``<root>/containers/<id>/record.json``, one per container.

Each record is written whole with ``write_atomic`` (readers see the old or the new record, never half of
one) and carries ``"version": 1``; a record of an unknown version is refused rather than misread. Names
are unique: creating a record takes ``<root>/containers/.names.lock`` and checks every other record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any

from ketch._common.atomicio import FileLock, write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch._common.model import asdict, field, model
from ketch.engine.errors import Conflict, EngineError, NotFound, UsageError

__all__ = ["RECORD_VERSION", "ContainerRecord", "ContainerStore", "PortMapping"]

RECORD_VERSION = 1
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_ADJ = ["brave", "calm", "eager", "fond", "keen", "lucid", "merry", "quiet", "swift", "witty"]
_NOUN = ["ant", "bee", "crow", "deer", "eel", "fox", "gnu", "hare", "ibis", "jay"]


@model
class PortMapping:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str  # tcp or udp

    def __str__(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}->{self.container_port}/{self.protocol}"


@model
class ContainerRecord:
    id: str
    name: str
    image: str
    image_digest: str
    command: list[str]
    created: str
    runtime: str
    bundle: str
    log_path: str
    snapshotter: str
    network: str = "none"
    ip: str | None = None
    netns: str | None = None
    ports: list[PortMapping] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)  # named volumes used (for "volume in use")
    auto_remove: bool = False
    tty: bool = False
    stop_signal: str = "SIGTERM"
    state: str = "created"  # created, running, exited
    pid: int = 0
    monitor: str = "none"  # conmon (detached) or cli (foreground)
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["version"] = RECORD_VERSION
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> ContainerRecord:
        if data.get("version") != RECORD_VERSION:
            raise EngineError(f"{where}: record version {data.get('version')!r} is not {RECORD_VERSION}")
        data = dict(data)
        data.pop("version")
        data["ports"] = [PortMapping(**p) for p in data.get("ports", [])]
        try:
            return cls(**data)
        except TypeError as e:
            raise EngineError(f"{where}: malformed record: {e}") from None


class ContainerStore:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "containers")
        os.makedirs(self.dir, 0o700, exist_ok=True)

    def path(self, cid: str) -> str:
        return os.path.join(self.dir, cid)

    def _record_path(self, cid: str) -> str:
        return os.path.join(self.dir, cid, "record.json")

    def load(self, cid: str) -> ContainerRecord:
        path = self._record_path(cid)
        try:
            with open(path, "rb") as f:
                return ContainerRecord.from_json(json.load(f), path)
        except FileNotFoundError:
            raise NotFound(f"no such container: {cid}") from None
        except json.JSONDecodeError as e:
            raise EngineError(f"{path}: {e}") from None

    def save(self, record: ContainerRecord, *, durable: bool = False) -> None:
        """Replace the record atomically. State changes are not fsynced (a crash loses at most the latest
        transition, which ``refresh`` re-derives from the runtime and the exit file); creation is."""
        write_atomic(self._record_path(record.id), dumps_pretty(record.to_json()), 0o600, durable=durable)

    def ids(self) -> list[str]:
        return sorted(
            d for d in os.listdir(self.dir) if os.path.isfile(os.path.join(self.dir, d, "record.json"))
        )

    def all(self) -> list[ContainerRecord]:
        out = []
        for cid in self.ids():
            try:
                out.append(self.load(cid))
            except NotFound:
                continue  # removed meanwhile
        return sorted(out, key=lambda r: r.created, reverse=True)

    def find(self, ref: str) -> ContainerRecord:
        """A container by name, full id, or unique id prefix."""
        records = self.all()
        for r in records:
            if r.name == ref or r.id == ref:
                return r
        matches = [r for r in records if len(ref) >= 3 and r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f"container id prefix {ref!r} is ambiguous ({len(matches)} containers)")
        raise NotFound(f"no such container: {ref}", hint="'ketch ps -a' lists containers")

    def new_id(self) -> str:
        return os.urandom(32).hex()  # not secrets: it loads OpenSSL for hmac, milliseconds of every run

    def random_name(self) -> str:
        taken = {r.name for r in self.all()}
        for _ in range(100):
            n = int.from_bytes(os.urandom(8), "big")
            name = f"{_ADJ[n % len(_ADJ)]}_{_NOUN[(n >> 16) % len(_NOUN)]}_{(n >> 32) % 1000}"
            if name not in taken:
                return name
        raise EngineError("could not pick a free container name")

    def create(self, record: ContainerRecord) -> None:
        """Store a new record; Conflict if its name is taken."""
        if not _NAME.match(record.name):
            raise UsageError(
                f"invalid container name {record.name!r}",
                hint="names are [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters",
            )
        with FileLock(os.path.join(self.dir, ".names.lock")):
            for other in self.all():
                if other.name == record.name:
                    raise Conflict(
                        f"container name {record.name!r} is already in use by {other.id[:12]}",
                        hint=f"remove it with 'ketch rm {record.name}' or choose another --name",
                    )
            os.makedirs(self.path(record.id), 0o700)
            self.save(record, durable=True)

    def remove(self, cid: str) -> None:
        path = self.path(cid)
        doomed = os.path.join(self.dir, f".rm-{cid}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)
