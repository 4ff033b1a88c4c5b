"""The gRPC server on a unix socket (grpc.aio), with the CRI service behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import grpc

from ketch._common.atomicio import FileLock
from ketch.cri.config import Config
from ketch.cri.errors import FailedPrecondition, InvalidArgument
from ketch.cri.images import Puller
from ketch.cri.service import CriService
from ketch.cri.servicers import register

__all__ = ["parse_listen", "serve"]

log = logging.getLogger("ketchd")
MAX_MESSAGE = 16 * 1024 * 1024  # kubelet's maxMsgSize


def parse_listen(listen: str) -> str:
    """``unix:///run/ketchd.sock`` or a bare absolute path -> the socket path."""
    path = listen[len("unix://"):] if listen.startswith("unix://") else listen
    if not path.startswith("/"):
        raise InvalidArgument(f"--listen {listen!r}: give unix:///ABSOLUTE/PATH")
    return path


async def serve(config: Config, listen: str, *, puller: Puller | None = None,
                runtime_default_seccomp: Callable[[list[str]], dict[str, Any]] | None = None,
                ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT; containers keep running after the server stops."""
    path = parse_listen(listen)
    os.makedirs(config.state, mode=0o711, exist_ok=True)
    # One ketchd per state directory: two would each believe they own the same pods and containers.
    lock = FileLock(os.path.join(config.state, "ketchd.lock"))
    if not lock.acquire(blocking=False):
        raise FailedPrecondition(f"another ketchd is running on state directory {config.state}")
    try:
        await _serve(config, path, puller=puller, runtime_default_seccomp=runtime_default_seccomp,
                     ready=ready)
    finally:
        lock.release()


async def _serve(config: Config, path: str, *, puller: Puller | None,
                 runtime_default_seccomp: Callable[[list[str]], dict[str, Any]] | None,
                 ready: Callable[[], None] | None) -> None:
    svc = CriService(config, puller=puller, runtime_default_seccomp=runtime_default_seccomp)
    await svc.start()
    from ketch.cri.streaming import StreamServer

    streams = StreamServer(svc, config.stream_address, config.stream_port)
    await streams.start()
    svc.streams = streams
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE)])
    register(server, svc)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server.add_insecure_port("unix://" + path)
    await server.start()
    os.chmod(path, 0o660)
    log.info("ketchd listening on unix://%s, streaming on %s", path, svc.stream_url)
    if ready is not None:
        ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop(grace=2)
        await streams.close()
        await svc.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
