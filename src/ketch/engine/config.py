"""The engine's configuration file (TOML): ``/etc/ketch/ketch.toml``, or ``--config`` / ``$KETCH_CONFIG``.

::

    [storage]
    root = "/var/lib/ketch"          # images, containers, volumes
    run_root = "/run/ketch-engine"   # runtime state, exit files, network namespaces

    [runtime]
    default = "ketch-runtime"        # or runc, crun
    [runtime.paths]                  # optional: name -> binary
    runc = "/usr/sbin/runc"

    [registries]
    hosts_dir = "/etc/ketch/certs.d" # per-registry hosts.toml (mirrors, TLS)

    [network]
    cni_plugin_dir = "/usr/lib/cni"
    default_subnet = "10.66.0.0/16"

A missing file is the defaults; an unknown key is an error naming it, so typos do not pass silently.
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from typing import Any

from ketch._common.model import field, model
from ketch.engine.errors import UsageError

__all__ = ["DEFAULT_CONFIG_PATH", "EngineConfig", "load_config"]

DEFAULT_CONFIG_PATH = "/etc/ketch/ketch.toml"
KNOWN_RUNTIMES = ("ketch-runtime", "runc", "crun")

_SCHEMA: dict[str, set[str]] = {
    "storage": {"root", "run_root"},
    "runtime": {"default", "paths"},
    "registries": {"hosts_dir"},
    "network": {"cni_plugin_dir", "default_subnet"},
}


@model
class EngineConfig:
    root: str = "/var/lib/ketch"
    run_root: str = "/run/ketch-engine"
    default_runtime: str = "ketch-runtime"
    runtime_paths: dict[str, str] = field(default_factory=dict)
    hosts_dir: str = "/etc/ketch/certs.d"
    cni_plugin_dir: str = "/usr/lib/cni"
    default_subnet: str = "10.66.0.0/16"
    source: str | None = None  # the file read, if any

    def runtime_path(self, name: str) -> str:
        """The binary of runtime ``name`` (configured path, next to this interpreter, or on PATH)."""
        if name in self.runtime_paths:
            return self.runtime_paths[name]
        if os.sep in name:
            return name
        if name == "ketch-runtime":
            beside = os.path.join(os.path.dirname(sys.executable), "ketch-runtime")
            if os.access(beside, os.X_OK):
                return beside
        found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin")
        if found is None:
            raise UsageError(
                f"OCI runtime {name!r} not found",
                hint="install it, or give its path in [runtime.paths] of the config file",
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "config_file": self.source,
            "storage": {"root": self.root, "run_root": self.run_root},
            "runtime": {"default": self.default_runtime, "paths": dict(self.runtime_paths)},
            "registries": {"hosts_dir": self.hosts_dir},
            "network": {"cni_plugin_dir": self.cni_plugin_dir, "default_subnet": self.default_subnet},
        }


def _str(table: dict[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value


def load_config(path: str | None = None) -> EngineConfig:
    """Read ``path`` (default ``$KETCH_CONFIG`` or /etc/ketch/ketch.toml; absent default file: defaults)."""
    explicit = path or os.environ.get("KETCH_CONFIG")
    target = explicit or DEFAULT_CONFIG_PATH
    cfg = EngineConfig()
    try:
        with open(target, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"config file {target} does not exist") from None
        return cfg
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {target}: {e}") from None
    cfg.source = target
    for section, value in data.items():
        if section not in _SCHEMA:
            raise UsageError(f"config file {target}: unknown section [{section}]")
        if not isinstance(value, dict):
            raise UsageError(f"config file {target}: {section} must be a table")
        for key in value:
            if key not in _SCHEMA[section]:
                raise UsageError(f"config file {target}: unknown key {key!r} in [{section}]")
    where = f"config file {target}"
    storage = data.get("storage", {})
    cfg.root = _str(storage, "root", where + " [storage]") or cfg.root
    cfg.run_root = _str(storage, "run_root", where + " [storage]") or cfg.run_root
    runtime = data.get("runtime", {})
    cfg.default_runtime = _str(runtime, "default", where + " [runtime]") or cfg.default_runtime
    paths = runtime.get("paths", {})
    if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
        raise UsageError(f"{where}: [runtime.paths] must map names to paths")
    cfg.runtime_paths = dict(paths)
    cfg.hosts_dir = _str(data.get("registries", {}), "hosts_dir", where + " [registries]") or cfg.hosts_dir
    network = data.get("network", {})
    cfg.cni_plugin_dir = _str(network, "cni_plugin_dir", where + " [network]") or cfg.cni_plugin_dir
    cfg.default_subnet = _str(network, "default_subnet", where + " [network]") or cfg.default_subnet
    return cfg
