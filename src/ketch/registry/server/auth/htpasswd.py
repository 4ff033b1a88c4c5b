"""Users from an htpasswd file with bcrypt entries (``htpasswd -B``); other hash kinds are refused.

The file is re-read when its modification time changes, so users can be added without a restart. A bcrypt
check costs tens of milliseconds by design, so a successful one is remembered for a few minutes (keyed by a
SHA-256 of the password, never the password itself) and forgotten when the file changes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import bcrypt

from ketch.registry.server.errors import ConfigError

__all__ = ["Htpasswd"]


_REMEMBER = 300.0


class Htpasswd:
    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime = -1.0
        self._users: dict[str, bytes] = {}
        self._verified: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise ConfigError(f"htpasswd file {self.path!r}: {e.strerror}") from None
        if st.st_mtime == self._mtime:
            return
        users: dict[str, bytes] = {}
        with open(self.path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                user, sep, hashed = line.partition(":")
                if not sep or not user:
                    raise ConfigError(f"htpasswd file {self.path!r} line {lineno}: expected user:hash")
                if not hashed.startswith(("$2y$", "$2b$", "$2a$")):
                    raise ConfigError(
                        f"htpasswd file {self.path!r} line {lineno}: user {user!r} has a non-bcrypt hash"
                    )
                users[user] = hashed.encode()
        with self._lock:
            self._users = users
            self._mtime = st.st_mtime
            self._verified = {}

    def verify(self, user: str, password: str) -> bool:
        try:
            self._load()
        except ConfigError:
            return False
        key = (user, hashlib.sha256(password.encode()).digest())
        now = time.monotonic()
        if self._verified.get(key, 0.0) > now:
            return True
        hashed = self._users.get(user)
        if hashed is None:
            # spend the same time as a real check so response timing does not reveal which users exist
            bcrypt.checkpw(password.encode(), b"$2b$05$" + b"." * 53)
            return False
        try:
            ok = bcrypt.checkpw(password.encode(), hashed.replace(b"$2y$", b"$2b$", 1))
        except ValueError:
            return False
        if ok:
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified = {}
                self._verified[key] = now + _REMEMBER
        return ok
