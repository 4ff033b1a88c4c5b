"""Registry server processes for integration tests: ``ketch registry serve`` on a free 127.0.0.1 port in
15000-15999, stopped (or killed) by pid."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import ketch
from ketch.testing.net import free_port

SRC = str(Path(ketch.__file__).resolve().parents[1])




def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryProcess:
    running: ClassVar[list[RegistryProcess]] = []

    def __init__(self, root: Path, *extra: str, port: int | None = None, https: bool = False) -> None:
        self.root = root
        self.https = https
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root.parent / f"registry-{self.port}.log"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> RegistryProcess:
        env = dict(os.environ, PYTHONPATH=SRC)
        args = [
            sys.executable,
            "-m",
            "ketch.cli.registry",
            "serve",
            "--addr",
            self.addr,
            "--root",
            str(self.root),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*args, *self.extra], env=env, stdout=log, stderr=log)
        RegistryProcess.running.append(self)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited: {self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", "/v2/")[0] in (200, 401):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not come up")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.https:
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # readiness probe of a test server with a throwaway cert
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=60, context=context
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def kill_leftovers() -> None:
    """Kill the servers a failed test left running (by pid)."""
    for reg in RegistryProcess.running:
        if reg.proc is not None and reg.proc.poll() is None:
            reg.proc.kill()
            reg.proc.wait()
    RegistryProcess.running.clear()
