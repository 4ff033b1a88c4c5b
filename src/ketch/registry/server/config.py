"""The registry server's configuration: defaults, a TOML file, then command-line overrides.

Example (every key optional)::

    addr = "127.0.0.1:5000"
    root = "/var/lib/ketch/registry"     # filesystem storage root
    read_only = false
    delete_enabled = true
    max_manifest_bytes = 4194304
    upload_purge_after = 86400           # seconds an unfinished upload is kept
    rate_limit = 0                       # requests per second per client address (0 = unlimited)
    rate_burst = 100                     # requests a client may make at once before the rate applies

    [storage]                            # default: the filesystem under root
    driver = "s3"                        # "filesystem" or "s3"
    endpoint = "http://127.0.0.1:8333"
    bucket = "registry"
    prefix = ""
    region = "us-east-1"
    access_key = ""
    secret_key = ""

    [tls]
    cert = "/etc/ketch/registry.crt"
    key = "/etc/ketch/registry.key"

    [auth]
    mode = "token"                       # "none", "htpasswd" or "token"
    htpasswd = "/etc/ketch/htpasswd"     # bcrypt entries (htpasswd -B)
    realm = "https://registry.example/token"   # token mode: where clients get tokens ("" = built-in)
    service = "ketch-registry"
    secret_file = "/etc/ketch/token.key" # HMAC key for the built-in token issuer
    token_ttl = 300
    anonymous_pull = false

    [[auth.access]]                      # token mode: who may do what (first match wins)
    user = "alice"                       # "*" = any authenticated user, "" = anonymous
    repository = "alice/*"               # fnmatch pattern
    actions = ["pull", "push", "delete"]

    [gc]
    interval = 0                         # seconds between online collections; 0 = never
    grace = 3600                         # blobs younger than this are never collected
    untagged = false                     # also delete manifests no tag reaches
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from ketch.registry.server.errors import ConfigError

__all__ = [
    "AccessRule",
    "AuthConfig",
    "GCConfig",
    "RegistryConfig",
    "StorageConfig",
    "load_config",
    "parse_addr",
]


@dataclass
class AccessRule:
    user: str
    repository: str
    actions: tuple[str, ...]


@dataclass
class AuthConfig:
    mode: str = "none"
    htpasswd: str = ""
    realm: str = ""
    service: str = "ketch-registry"
    issuer: str = "ketch-registry"
    secret_file: str = ""
    token_ttl: int = 300
    anonymous_pull: bool = False
    access: list[AccessRule] = field(default_factory=list)


@dataclass
class GCConfig:
    interval: float = 0.0
    grace: float = 3600.0
    untagged: bool = False


@dataclass
class StorageConfig:
    driver: str = "filesystem"
    endpoint: str = ""
    bucket: str = "registry"
    prefix: str = ""
    region: str = "us-east-1"
    access_key: str = ""
    secret_key: str = ""


@dataclass
class RegistryConfig:
    addr: str = "127.0.0.1:5000"
    root: str = "/var/lib/ketch/registry"
    read_only: bool = False
    delete_enabled: bool = True
    max_manifest_bytes: int = 4 * 1024 * 1024
    upload_purge_after: float = 86400.0
    tls_cert: str = ""
    tls_key: str = ""
    access_log: bool = True
    rate_limit: float = 0.0
    rate_burst: int = 100
    auth: AuthConfig = field(default_factory=AuthConfig)
    gc: GCConfig = field(default_factory=GCConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise ConfigError(f"addr {addr!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _take(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table.pop(key)
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}{key} must be a number, not a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}{key} has the wrong type ({type(value).__name__})")
    return value


def load_config(path: str | None = None, **overrides: Any) -> RegistryConfig:
    cfg = RegistryConfig()
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config {path!r}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config {path!r} is not valid TOML: {e}") from None
        _apply(cfg, doc)
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    parse_addr(cfg.addr)
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise ConfigError("tls needs both cert and key")
    if cfg.auth.mode not in ("none", "htpasswd", "token"):
        raise ConfigError(f"auth.mode {cfg.auth.mode!r} must be none, htpasswd or token")
    if cfg.auth.mode != "none" and not cfg.auth.htpasswd:
        raise ConfigError(f"auth.mode {cfg.auth.mode!r} needs auth.htpasswd")
    if cfg.storage.driver not in ("filesystem", "s3"):
        raise ConfigError(f"storage.driver {cfg.storage.driver!r} must be filesystem or s3")
    if cfg.storage.driver == "s3" and not cfg.storage.endpoint:
        raise ConfigError("storage.driver s3 needs storage.endpoint")
    if cfg.rate_limit < 0 or cfg.rate_burst < 1:
        raise ConfigError("rate_limit must be >= 0 and rate_burst >= 1")
    if cfg.max_manifest_bytes <= 0:
        raise ConfigError("max_manifest_bytes must be positive")
    return cfg


def _apply(cfg: RegistryConfig, doc: dict[str, Any]) -> None:
    doc = dict(doc)
    scalars: dict[str, type | tuple[type, ...]] = {
        "addr": str,
        "root": str,
        "read_only": bool,
        "delete_enabled": bool,
        "max_manifest_bytes": int,
        "upload_purge_after": (int, float),
        "access_log": bool,
        "rate_limit": (int, float),
        "rate_burst": int,
    }
    for key, kind in scalars.items():
        if key in doc:
            setattr(cfg, key, _take(doc, key, kind, ""))
    if "tls" in doc:
        tls = dict(_take(doc, "tls", dict, ""))
        cfg.tls_cert = _take(tls, "cert", str, "tls.") if "cert" in tls else ""
        cfg.tls_key = _take(tls, "key", str, "tls.") if "key" in tls else ""
        _no_rest(tls, "tls.")
    if "auth" in doc:
        auth = dict(_take(doc, "auth", dict, ""))
        a = cfg.auth
        for key, kind in (
            ("mode", str),
            ("htpasswd", str),
            ("realm", str),
            ("service", str),
            ("issuer", str),
            ("secret_file", str),
            ("token_ttl", int),
            ("anonymous_pull", bool),
        ):
            if key in auth:
                setattr(a, key, _take(auth, key, kind, "auth."))
        for i, rule in enumerate(auth.pop("access", [])):
            if not isinstance(rule, dict):
                raise ConfigError(f"auth.access[{i}] must be a table")
            rule = dict(rule)
            actions = rule.pop("actions", [])
            if not isinstance(actions, list) or not all(
                x in ("pull", "push", "delete", "*") for x in actions
            ):
                raise ConfigError(f"auth.access[{i}].actions must list pull, push, delete or *")
            a.access.append(
                AccessRule(
                    str(_take(rule, "user", str, f"auth.access[{i}].")),
                    str(_take(rule, "repository", str, f"auth.access[{i}].")),
                    tuple(actions),
                )
            )
            _no_rest(rule, f"auth.access[{i}].")
        _no_rest(auth, "auth.")
    if "storage" in doc:
        st = dict(_take(doc, "storage", dict, ""))
        for key in ("driver", "endpoint", "bucket", "prefix", "region", "access_key", "secret_key"):
            if key in st:
                setattr(cfg.storage, key, _take(st, key, str, "storage."))
        _no_rest(st, "storage.")
    if "gc" in doc:
        gc = dict(_take(doc, "gc", dict, ""))
        for key, kind in (("interval", (int, float)), ("grace", (int, float)), ("untagged", bool)):
            if key in gc:
                setattr(cfg.gc, key, _take(gc, key, kind, "gc."))
        _no_rest(gc, "gc.")
    _no_rest(doc, "")


def _no_rest(table: dict[str, Any], where: str) -> None:
    if table:
        raise ConfigError(f"unknown config key(s): {', '.join(where + k for k in sorted(table))}")
