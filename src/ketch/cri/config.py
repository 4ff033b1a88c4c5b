"""ketchd's configuration: a TOML file, every key optional.

::

    [runtime]
    default_handler = "ketch"          # the handler used when a pod names none
    conmon = "/usr/bin/conmon"
    cgroup_root = "/ketch"             # cgroup parent of pods that name none (cgroupfs driver)
    restrict_oom_score_adj = true      # clamp negative oom_score_adj to ketchd's own (no CAP_SYS_RESOURCE)

    [runtime.handlers.runc]            # one table per handler: name -> OCI runtime binary
    path = "/usr/sbin/runc"

    [cni]
    conf_dir = "/etc/ketch/cni/net.d"
    bin_dirs = ["/usr/lib/cni"]
    subnet = "10.77.0.0/16"            # of the default bridge network written when conf_dir has none

    [registry]                         # PullImage (ketch's registry client)
    hosts_dir = "/etc/ketch/certs.d"   # mirrors and TLS per registry (hosts.toml)
    auth_file = ""                     # credentials when a request carries none

    [image]
    root = "/var/lib/ketch"            # image store (content, snapshots); the ketch command's by default
    snapshotter = "overlay"            # or "copy"
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ketch.cri.errors import InvalidArgument
from ketch.image.store import DEFAULT_ROOT as DEFAULT_IMAGE_ROOT

__all__ = ["Config", "Handler", "load_config"]


@dataclass(frozen=True)
class Handler:
    name: str
    path: str
    root: str = ""  # the runtime's --root; ketchd picks one under its state dir when empty


@dataclass
class Config:
    root: str
    state: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    default_handler: str = "ketch"
    conmon: str = "/usr/bin/conmon"
    cgroup_root: str = "/ketch"
    restrict_oom_score_adj: bool = True
    cni_conf_dir: str = ""
    cni_bin_dirs: list[str] = field(default_factory=lambda: ["/usr/lib/cni", "/opt/cni/bin"])
    cni_subnet: str = "10.77.0.0/16"
    cni_bridge: str = "ketch0"
    image_root: str = ""
    snapshotter: str = "overlay"
    registry_hosts_dir: str = ""  # hosts.toml directory of the registry client ("" = its default)
    registry_auth_file: str = ""  # credentials used when a PullImage request carries none
    stream_address: str = "127.0.0.1"
    stream_port: int = 0

    def __post_init__(self) -> None:
        if not self.cni_conf_dir:
            self.cni_conf_dir = os.path.join(self.root, "cni", "net.d")
        if not self.image_root:
            # The image store the ketch command uses: `ketch pull` and `ketch image import` feed ketchd.
            self.image_root = DEFAULT_IMAGE_ROOT
        if not self.handlers:
            self.handlers = default_handlers()
        if self.default_handler not in self.handlers:
            raise InvalidArgument(f"default runtime handler {self.default_handler!r} is not configured")
        if self.snapshotter not in ("overlay", "copy"):
            raise InvalidArgument(f"image.snapshotter {self.snapshotter!r} is neither 'overlay' nor 'copy'")
        try:
            ipaddress.ip_network(self.cni_subnet)
        except ValueError as e:
            raise InvalidArgument(f"cni.subnet {self.cni_subnet!r}: {e}") from None

    def handler(self, name: str) -> Handler:
        h = self.handlers.get(name or self.default_handler)
        if h is None:
            raise InvalidArgument(f"runtime handler {name!r} is not configured (have {sorted(self.handlers)})")
        return h

    def runtime_root(self, h: Handler) -> str:
        return h.root or os.path.join(self.state, "runtime", h.name)


def default_handlers() -> dict[str, Handler]:
    out: dict[str, Handler] = {}
    for name, binary in (("ketch", "ketch-runtime"), ("runc", "runc"), ("crun", "crun")):
        path = shutil.which(binary)
        if path is None and name == "ketch":
            # installed beside ketchd's interpreter (a virtualenv not on PATH): use that one
            beside = os.path.join(os.path.dirname(sys.executable), binary)
            path = beside if os.path.exists(beside) else binary
        if path is not None:
            out[name] = Handler(name, path)
    return out


def _get(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if value is not None and not isinstance(value, kind):
        raise InvalidArgument(f"{where}.{key} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def load_config(path: str | None, root: str, state: str) -> Config:
    """Read ``path`` (None: defaults only); every error names the key that is wrong."""
    doc: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            raise InvalidArgument(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidArgument(f"config file {path}: {e}") from None
    kw: dict[str, Any] = {}
    rt = _get(doc, "runtime", dict, "") or {}
    for key, kind in (("default_handler", str), ("conmon", str), ("cgroup_root", str),
                      ("restrict_oom_score_adj", bool)):
        v = _get(rt, key, kind, "runtime")
        if v is not None:
            kw[key] = v
    handlers = _get(rt, "handlers", dict, "runtime") or {}
    if handlers:
        hs = default_handlers()
        for name, table in handlers.items():
            if not isinstance(table, dict):
                raise InvalidArgument(f"runtime.handlers.{name} must be a table")
            p = _get(table, "path", str, f"runtime.handlers.{name}")
            if not p:
                raise InvalidArgument(f"runtime.handlers.{name}.path is required")
            hs[name] = Handler(name, p, _get(table, "root", str, f"runtime.handlers.{name}") or "")
        kw["handlers"] = hs
    cni = _get(doc, "cni", dict, "") or {}
    cni_keys: list[tuple[str, str, type]] = [("conf_dir", "cni_conf_dir", str), ("bin_dirs", "cni_bin_dirs", list),
                                             ("subnet", "cni_subnet", str), ("bridge", "cni_bridge", str)]
    for key, attr, ckind in cni_keys:
        v = _get(cni, key, ckind, "cni")
        if v is not None:
            kw[attr] = v
    img = _get(doc, "image", dict, "") or {}
    for key, attr in (("root", "image_root"), ("snapshotter", "snapshotter")):
        v = _get(img, key, str, "image")
        if v is not None:
            kw[attr] = v
    reg = _get(doc, "registry", dict, "") or {}
    for key, attr in (("hosts_dir", "registry_hosts_dir"), ("auth_file", "registry_auth_file")):
        v = _get(reg, key, str, "registry")
        if v is not None:
            kw[attr] = v
    stream = _get(doc, "streaming", dict, "") or {}
    if (v := _get(stream, "address", str, "streaming")) is not None:
        kw["stream_address"] = v
    if (v := _get(stream, "port", int, "streaming")) is not None:
        kw["stream_port"] = v
    return Config(root=root, state=state, **kw)
