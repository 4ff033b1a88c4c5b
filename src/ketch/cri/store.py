"""Pod sandbox and container records on disk: one JSON file per object, replaced atomically.

Layout under ketchd's ``--state`` directory::

    sandboxes/<id>.json    {"version": 1, "sandbox": {...}}
    containers/<id>.json   {"version": 1, "container": {...}}

A record is written before the thing it describes is created and removed only after the thing is gone, so
a ketchd that crashes between the two finds the record at start and finishes (or undoes) the work.

Records are replaced atomically (rename) but not fsynced: they describe processes, mounts and namespaces
that a machine crash ends anyway, and ``--state`` belongs on tmpfs (``/run/ketchd``), as containerd's does.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_pretty

__all__ = ["FORMAT_VERSION", "ContainerRecord", "RecordStore", "SandboxRecord"]

FORMAT_VERSION = 1


@dataclass
class SandboxRecord:
    id: str
    name: str  # reserved name: <name>_<namespace>_<uid>_<attempt>
    metadata: dict[str, Any]
    config: str  # PodSandboxConfig, serialized protobuf in base64 (replayed for CNI DEL and status)
    runtime_handler: str
    created_at: int
    state: str = "notready"  # "ready" | "notready"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    log_directory: str = ""
    cgroup_parent: str = ""
    own_cgroup: bool = False  # ketchd made the cgroup parent and removes it
    namespaces: dict[str, str] = field(default_factory=dict)  # kind -> pinned path ("" for the host's)
    ns_modes: dict[str, int] = field(default_factory=dict)  # network/pid/ipc -> NamespaceMode
    pid_holder: int = 0  # pid of the process keeping a pod-level pid namespace alive
    network: str = ""  # CNI network name the pod is attached to ("" when host network or detached)
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)
    dir: str = ""  # per-pod files (hostname, hosts, resolv.conf, shm)
    shm: str = ""


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    name: str  # reserved name: <name>_<pod name>_<namespace>_<uid>_<attempt>
    metadata: dict[str, Any]
    config: str  # ContainerConfig, serialized protobuf in base64
    image: str  # what the user asked for
    image_ref: str  # repo digest or name
    image_id: str  # config digest
    runtime_handler: str
    bundle: str
    snapshot: str
    log_path: str
    created_at: int
    state: str = "created"  # "created" | "running" | "exited"
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    stop_signal: str = "SIGTERM"
    pid: int = 0
    resources: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)
    cgroups_path: str = ""


R = TypeVar("R", SandboxRecord, ContainerRecord)


class RecordStore(Generic[R]):
    """Records of one kind under ``dir``; ``durable=False`` for state on tmpfs."""

    def __init__(self, directory: str, kind: type[R], key: str, *, durable: bool = True) -> None:
        self.dir = directory
        self.kind: type[R] = kind
        self.key = key
        self.durable = durable
        os.makedirs(directory, exist_ok=True)

    def _path(self, ident: str) -> str:
        return os.path.join(self.dir, ident + ".json")

    def save(self, rec: R) -> None:
        doc = {"version": FORMAT_VERSION, self.key: dataclasses.asdict(rec)}
        write_atomic(self._path(rec.id), dumps_pretty(doc), 0o600, durable=self.durable)

    def delete(self, ident: str) -> None:
        try:
            os.unlink(self._path(ident))
        except FileNotFoundError:
            pass

    def load_all(self) -> tuple[list[R], list[str]]:
        """Every readable record, and a message for each file that could not be read (left in place)."""
        out: list[R] = []
        bad: list[str] = []
        names = {f.name for f in dataclasses.fields(self.kind)}
        for entry in sorted(os.listdir(self.dir)):
            if not entry.endswith(".json") or entry.startswith("."):
                continue
            path = os.path.join(self.dir, entry)
            try:
                with open(path, "rb") as f:
                    doc = json.load(f)
                if doc.get("version") != FORMAT_VERSION:
                    bad.append(f"{path}: format version {doc.get('version')!r}, expected {FORMAT_VERSION}")
                    continue
                body = {k: v for k, v in doc[self.key].items() if k in names}
                out.append(self.kind(**body))
            except (OSError, ValueError, KeyError, TypeError) as e:
                bad.append(f"{path}: {e}")
        return out, bad
