"""Registries for the client's integration tests, on 127.0.0.1 ports 16000-16999: ketch's own
(``ketch registry serve``) and CNCF distribution 2.8 (Debian's ``docker-registry``), each logging every
request to a file the tests read to see what the server did; and a TCP proxy that cuts a blob mid-way."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import ketch
from ketch.testing.net import free_port

SRC = str(Path(ketch.__file__).resolve().parents[1])




class Registry:
    """A registry server process; ``kind`` is ``ketch`` or ``distribution``."""

    def __init__(self, kind: str, workdir: Path, extra_toml: str = "") -> None:
        self.kind = kind
        self.extra_toml = extra_toml
        self.workdir = workdir
        self.port = free_port(16000, 17000)
        self.log = workdir / f"{kind}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Registry:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "distribution":
            if shutil.which("docker-registry") is None:
                import pytest

                pytest.skip("needs docker-registry")
            config = self.workdir / f"distribution-{self.port}.yml"
            config.write_text(
                "version: 0.1\n"
                "log:\n  level: info\n  accesslog:\n    disabled: false\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.workdir}/distribution-data-{self.port}\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n"
            )
            args = ["docker-registry", "serve", str(config)]
            # distribution reads REGISTRY_* variables as configuration (REGISTRY_AUTH_FILE would be auth.file)
            env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        else:
            toml = self.workdir / f"ketch-{self.port}.toml"
            toml.write_text("access_log = true\n" + self.extra_toml)
            args = [
                sys.executable,
                "-m",
                "ketch.cli.registry",
                "serve",
                "--config",
                str(toml),
                "--addr",
                self.domain,
                "--root",
                str(self.workdir / f"ketch-data-{self.port}"),
            ]
            env = dict(os.environ, PYTHONPATH=SRC)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} registry exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.domain}/v2/", timeout=2):
                    return self
            except urllib.error.HTTPError as e:
                if e.code == 401:  # up, and asking for credentials
                    return self
                time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} registry did not come up")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class CuttingProxy:
    """Forwards 127.0.0.1:port to an upstream; the first full (non-Range) blob GET response longer than
    ``cut_at`` bytes is cut there (the connection is closed), as a flaky network would."""

    def __init__(self, upstream_port: int, cut_at: int) -> None:
        self.upstream_port = upstream_port
        self.cut_at = cut_at
        self.armed = True
        self.cuts = 0
        self.range_requests = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        cutting = False
        sent = 0
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        text = data.decode("latin-1")
                        if "/blobs/sha256:" in text and text.startswith("GET"):
                            if "\r\nrange:" in text.lower():
                                self.range_requests += 1
                            else:
                                cutting = self.armed
                                sent = 0
                        upstream.sendall(data)
                    else:
                        if cutting and self.armed and sent + len(data) >= self.cut_at:
                            self.armed = False
                            client.sendall(data[: self.cut_at - sent])
                            self.cuts += 1
                            return
                        sent += len(data)
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def stop(self) -> None:
        self._stop = True
        self.sock.close()
