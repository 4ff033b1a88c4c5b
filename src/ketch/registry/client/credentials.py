"""Registry credentials in the ``auth.json`` format podman, skopeo and buildah share (containers-auth.json(5)),
with Docker's ``~/.docker/config.json`` read as a fallback::

    {"auths": {"registry.example.com": {"auth": "<base64 of user:password>"},
               "registry.example.com/team": {"auth": "..."},
               "other.example": {"identitytoken": "..."}}}

Keys are a registry host, or a host plus a repository path prefix (the longest matching prefix wins);
Docker's keys may be URLs (``https://index.docker.io/v1/`` for docker.io). The default file is
``$REGISTRY_AUTH_FILE``, else ``$XDG_RUNTIME_DIR/containers/auth.json``, else ``/run/containers/<uid>/auth.json``
(podman's choice when XDG_RUNTIME_DIR is unset). Files are written atomically with mode 0600 under a lock.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from ketch._common.atomicio import FileLock, write_atomic
from ketch.registry.client.errors import ConfigError

__all__ = ["CredentialStore", "Credentials", "default_auth_file", "docker_config_file"]

_DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")


@dataclass(frozen=True)
class Credentials:
    """A user name and secret; ``identity_token`` is an OAuth2 refresh token (token.md "refresh_token")."""

    username: str
    password: str
    identity_token: str | None = None

    def __repr__(self) -> str:  # never print secrets, even in tracebacks or logs
        return f"Credentials(username={self.username!r}, password=<redacted>)"


def default_auth_file() -> str:
    explicit = os.environ.get("REGISTRY_AUTH_FILE")
    if explicit:
        return explicit
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return os.path.join(runtime_dir, "containers", "auth.json")
    return f"/run/containers/{os.getuid()}/auth.json"


def docker_config_file() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _normalize_key(key: str) -> str:
    """``https://host/v1/`` -> ``host``; ``host/path/`` -> ``host/path``; Docker Hub's aliases -> docker.io."""
    k = key
    for prefix in ("https://", "http://"):
        if k.startswith(prefix):
            k = k[len(prefix) :]
            k = k.split("/", 1)[0]  # a URL key names a registry, never a repository
            break
    k = k.rstrip("/")
    if k in _DOCKER_HUB_KEYS or key in _DOCKER_HUB_KEYS:
        return "docker.io"
    return k


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise ConfigError(f"auth file {path} is not valid JSON: {e}") from None
    except OSError as e:
        raise ConfigError(f"auth file {path}: {e.strerror}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"auth file {path} is not a JSON object")
    auths = doc.get("auths", {})
    if not isinstance(auths, dict):
        raise ConfigError(f'auth file {path}: "auths" is not an object')
    return doc


def _decode(entry: Any, key: str, path: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise ConfigError(f"auth file {path}: entry {key!r} is not an object")
    token = entry.get("identitytoken")
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f'auth file {path}: entry {key!r} has an undecodable "auth"') from None
        if not sep:
            raise ConfigError(f'auth file {path}: entry {key!r}: "auth" is not user:password')
        return Credentials(user, password, token if isinstance(token, str) and token else None)
    if isinstance(token, str) and token:
        return Credentials("<token>", "", token)
    return None


class CredentialStore:
    """Looks up credentials for a registry (and repository); ``login``/``logout`` edit the auth file."""

    def __init__(self, auth_file: str | None = None, *, docker_config: str | None = None) -> None:
        self.auth_file = auth_file or default_auth_file()
        self.docker_config = docker_config if docker_config is not None else docker_config_file()

    def lookup(self, registry: str, repository: str | None = None) -> Credentials | None:
        """Credentials for ``registry`` (a host[:port]); a ``host/repo-prefix`` key beats the host alone."""
        wanted = _normalize_key(registry)
        full = f"{wanted}/{repository}" if repository else wanted
        for path in (self.auth_file, self.docker_config):
            if not path:
                continue
            auths = _read(path).get("auths", {})
            best: tuple[int, Credentials] | None = None
            for key, entry in auths.items():
                k = _normalize_key(key)
                if k in (full, wanted) or full.startswith(k + "/"):
                    creds = _decode(entry, key, path)
                    if creds is not None and (best is None or len(k) > best[0]):
                        best = (len(k), creds)
            if best is not None:
                return best[1]
        return None

    def login(self, registry: str, username: str, password: str) -> None:
        """Store ``username:password`` for ``registry`` (a host, or host/repository) in the auth file."""
        key = _normalize_key(registry)
        self._edit(
            lambda auths: auths.__setitem__(
                key, {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
            )
        )

    def logout(self, registry: str) -> bool:
        """Forget ``registry``'s entry; False if there was none."""
        key = _normalize_key(registry)
        removed: list[bool] = []

        def drop(auths: dict[str, Any]) -> None:
            for k in list(auths):
                if _normalize_key(k) == key:
                    del auths[k]
                    removed.append(True)

        self._edit(drop)
        return bool(removed)

    def _edit(self, change: Any) -> None:
        directory = os.path.dirname(os.path.abspath(self.auth_file))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with FileLock(self.auth_file + ".lock"):
            doc = _read(self.auth_file)
            auths = dict(doc.get("auths", {}))
            change(auths)
            doc["auths"] = auths
            # 0600: the file holds passwords (only base64-encoded, as every tool of this format does).
            write_atomic(self.auth_file, json.dumps(doc, indent="\t").encode() + b"\n", 0o600)
