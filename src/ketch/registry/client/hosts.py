"""Where to send a registry's requests: containerd's ``hosts.toml`` directory layout.

For a registry ``HOST[:PORT]`` the file ``<dir>/HOST[:PORT]/hosts.toml`` (else ``<dir>/_default/hosts.toml``)
lists mirrors, tried in order, and the upstream ``server`` last (containerd docs/hosts.md)::

    server = "https://registry.example.com"      # upstream; left out = the registry's own address
    ca = "/etc/ketch/certs.d/registry.example.com/ca.pem"

    [host."http://127.0.0.1:5001"]                # a mirror (plain HTTP because of the scheme)
      capabilities = ["pull", "resolve"]
      [host."http://127.0.0.1:5001".header]
        x-mirror-token = "..."

    [host."https://mirror.example"]
      capabilities = ["pull", "resolve"]
      skip_verify = true                          # TLS without certificate checks
      ca = ["/etc/ssl/mirror-ca.pem"]             # extra CA bundle(s)
      client = [["/etc/ssl/client.pem", "/etc/ssl/client.key"]]
      override_path = false                       # true: the URL path replaces /v2

With no file, the registry itself is the only host: plain HTTP for loopback addresses (``localhost``,
``127.0.0.0/8``, ``::1``), HTTPS for everything else. ``docker.io`` is served by ``registry-1.docker.io``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ketch.registry.client.errors import ConfigError

__all__ = ["DEFAULT_HOSTS_DIR", "Endpoint", "HostsConfig", "is_loopback"]

DEFAULT_HOSTS_DIR = "/etc/ketch/certs.d"
_ALL_CAPABILITIES = frozenset({"pull", "resolve", "push"})


def is_loopback(host: str) -> bool:
    """``localhost``, any 127.0.0.0/8 address or ``::1`` (with or without a port, IPv6 in brackets)."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """One host serving a registry's API: a mirror or the upstream itself."""

    url: str  # scheme://host[:port][/path], without /v2 unless override_path
    capabilities: frozenset[str] = _ALL_CAPABILITIES
    skip_verify: bool = False
    ca: tuple[str, ...] = ()
    client: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    override_path: bool = False
    mirror: bool = False

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        """``host[:port]`` as it appears in the URL (the key for credentials and tokens)."""
        return urlsplit(self.url).netloc

    def api_url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/v2/a/b/manifests/latest``."""
        base = self.url.rstrip("/")
        if self.override_path and path.startswith("/v2"):
            return base + path[3:]
        return base + path

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where} must be a string or a list of strings")


def _client_pairs(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    # containerd accepts "cert.pem" (key inside), ["cert", "key"] or [["cert", "key"], ...]
    if isinstance(value, str):
        return ((value, value),)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return ((value[0], value[1]),)
    out = []
    for item in value if isinstance(value, list) else [None]:
        if isinstance(item, str):
            out.append((item, item))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item):
            out.append((item[0], item[1]))
        else:
            raise ConfigError(f"{where} must be a cert path or a list of [cert, key] pairs")
    return tuple(out)


def _endpoint(url: str, table: dict[str, Any], where: str, *, mirror: bool, base_dir: str) -> Endpoint:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: {url!r} is not an http:// or https:// URL")
    caps = table.get("capabilities", sorted(_ALL_CAPABILITIES))
    caps_t = _strings(caps, f"{where}.capabilities")
    unknown = set(caps_t) - _ALL_CAPABILITIES
    if unknown:
        raise ConfigError(f"{where}.capabilities: unknown capability {sorted(unknown)[0]!r}")
    skip = table.get("skip_verify", False)
    if not isinstance(skip, bool):
        raise ConfigError(f"{where}.skip_verify must be true or false")
    override = table.get("override_path", False)
    if not isinstance(override, bool):
        raise ConfigError(f"{where}.override_path must be true or false")

    def rel(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(base_dir, p)

    ca = tuple(rel(p) for p in _strings(table["ca"], f"{where}.ca")) if "ca" in table else ()
    client = (
        tuple((rel(c), rel(k)) for c, k in _client_pairs(table["client"], f"{where}.client"))
        if "client" in table
        else ()
    )
    header = table.get("header", {})
    if not isinstance(header, dict):
        raise ConfigError(f"{where}.header must be a table")
    headers = []
    for k, v in header.items():
        for one in _strings(v, f"{where}.header.{k}"):
            headers.append((k, one))
    return Endpoint(
        url=url.rstrip("/"),
        capabilities=frozenset(caps_t),
        skip_verify=skip,
        ca=ca,
        client=client,
        headers=tuple(headers),
        override_path=override,
        mirror=mirror,
    )


def default_server(domain: str) -> str:
    host = "registry-1.docker.io" if domain == "docker.io" else domain
    return f"{'http' if is_loopback(host) else 'https'}://{host}"


class HostsConfig:
    """The hosts of every registry, read from ``directory`` (missing directory: defaults only)."""

    def __init__(self, directory: str | None = DEFAULT_HOSTS_DIR) -> None:
        self.directory = directory
        self._cache: dict[str, list[Endpoint]] = {}

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Mirrors in file order, then the upstream server (unless the file names none and has mirrors)."""
        if domain not in self._cache:
            self._cache[domain] = self._load(domain)
        return self._cache[domain]

    def _load(self, domain: str) -> list[Endpoint]:
        path = self._file_for(domain)
        if path is None:
            return [Endpoint(default_server(domain))]
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: {e}") from None
        except OSError as e:
            raise ConfigError(f"{path}: {e.strerror}") from None
        base_dir = os.path.dirname(path)
        hosts = doc.get("host", {})
        if not isinstance(hosts, dict):
            raise ConfigError(f"{path}: [host] must be a table of URL -> settings")
        out = []
        for url, table in hosts.items():
            if not isinstance(table, dict):
                raise ConfigError(f'{path}: host."{url}" must be a table')
            out.append(_endpoint(url, table, f'{path}: host."{url}"', mirror=True, base_dir=base_dir))
        server = doc.get("server", default_server(domain))
        if not isinstance(server, str):
            raise ConfigError(f"{path}: server must be a URL string")
        top = {k: v for k, v in doc.items() if k not in ("server", "host")}
        out.append(_endpoint(server, top, f"{path}: server", mirror=False, base_dir=base_dir))
        return out

    def _file_for(self, domain: str) -> str | None:
        if not self.directory:
            return None
        names = [domain]
        if domain == "docker.io":
            names.append("registry-1.docker.io")
        names.append("_default")
        for name in names:
            candidate = os.path.join(self.directory, name, "hosts.toml")
            if os.path.isfile(candidate):
                return candidate
        return None
