"""Exec, Attach and PortForward through the streaming server, with a WebSocket client speaking the
Kubernetes channel protocols (what kubectl and crictl use); the same tests run against containerd's
streaming server (which speaks up to v4.channel.k8s.io) to prove the client, and so ketchd, against it."""

from __future__ import annotations

import asyncio
import json
import struct
import time

import aiohttp
import pytest

from ketch.cri.client import pb
from ketch.cri.harness import BUSYBOX

pytestmark = [pytest.mark.root, pytest.mark.peer]


async def _session(url: str, protocol: str, send: list[bytes], *, close_stdin: bool = True,
                   until: bytes | None = None) -> dict[int, bytes]:
    """Connect, send ``send`` (channel-prefixed), half-close stdin (v5), collect every channel until close."""
    out: dict[int, bytes] = {}
    async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=[protocol]) as ws:
        assert ws.protocol == protocol
        for m in send:
            await ws.send_bytes(m)
        if close_stdin and protocol.startswith("v5"):
            await ws.send_bytes(bytes([255, 0]))
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            ch, data = msg.data[0], msg.data[1:]
            out[ch] = out.get(ch, b"") + data
            if until is not None and until in out.get(1, b""):
                break
    return out


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.fixture
def box(cri, logdir: str):  # type: ignore[no-untyped-def]
    name, k, _d = cri
    pcfg = k.pod_config("streams", log_dir=logdir)
    pod = k.run_pod(pcfg)
    cid = k.create(pod, k.container_config("box", BUSYBOX, ["httpd", "-f", "-p", "8080", "-h", "/www"]), pcfg)
    k.start(cid)
    yield k, pod, cid, ("v5.channel.k8s.io" if name == "ketchd" else "v4.channel.k8s.io")
    k.stop_pod(pod)
    k.remove_pod(pod)


@pytest.mark.parametrize("protocol", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
def test_exec_with_stdin_and_exit_code(box, protocol: str) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid, newest = box
    if protocol.startswith("v5") and not newest.startswith("v5"):
        pytest.skip("containerd 1.6 speaks up to v4.channel.k8s.io")
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "cat; echo e >&2; exit 4"],
                                        stdin=True, stdout=True, stderr=True)).url
    send = [bytes([0]) + b"from stdin\n"]
    if protocol.startswith("v4"):
        send = [bytes([0]) + b"from stdin\n"]
        url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "head -n1; echo e >&2; exit 4"],
                                            stdin=True, stdout=True, stderr=True)).url
    out = _run(_session(url, protocol, send))
    assert out[1] == b"from stdin\n"
    assert out[2] == b"e\n"
    status = json.loads(out[3])
    assert status["status"] == "Failure"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]


def test_exec_success_status_and_one_time_url(box) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid, proto = box
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["echo", "ok"], stdout=True)).url
    out = _run(_session(url, proto, []))
    assert out[1] == b"ok\n" and json.loads(out[3])["status"] == "Success"

    async def reuse() -> int:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return r.status

    assert _run(reuse()) == 404


def test_exec_with_a_terminal(box) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid, proto = box
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["sh"], tty=True, stdin=True, stdout=True)).url
    resize = bytes([4]) + json.dumps({"Width": 91, "Height": 17}).encode()
    send = [resize, bytes([0]) + b"tty -s && echo is-a-tty; stty size; exit 3\n"]
    out = _run(_session(url, proto, send, close_stdin=False))
    text = out[1].decode(errors="replace")
    assert "is-a-tty" in text and "17 91" in text
    assert json.loads(out[3])["details"]["causes"][0]["message"] == "3"


def test_port_forward_reaches_the_pod(box) -> None:  # type: ignore[no-untyped-def]
    k, pod, cid, _proto = box
    deadline = time.monotonic() + 20
    while k.exec_sync(cid, ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).exit_code != 0:
        assert time.monotonic() < deadline, "httpd did not start"
        time.sleep(0.1)
    url = k.call("PortForward", pb.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url

    async def forward() -> bytes:
        body = b""
        async with aiohttp.ClientSession() as s, s.ws_connect(url + "?port=8080",
                                                               protocols=["v4.channel.k8s.io"]) as ws:
            first = [await ws.receive_bytes(), await ws.receive_bytes()]
            assert first == [bytes([0]) + struct.pack("<H", 8080), bytes([1]) + struct.pack("<H", 8080)]
            await ws.send_bytes(bytes([0]) + b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                if msg.data[0] == 0:
                    body += msg.data[1:]
                if b"hello from ketch" in body:
                    break
        return body

    body = _run(forward())
    assert body.startswith(b"HTTP/1.") and body.endswith(b"hello from ketch\n")


def test_attach_reads_the_container_output(cri, logdir: str) -> None:  # type: ignore[no-untyped-def]
    name, k, _d = cri
    proto = "v5.channel.k8s.io" if name == "ketchd" else "v4.channel.k8s.io"
    pcfg = k.pod_config("attached", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cfg = k.container_config("talk", BUSYBOX, ["sh", "-c", "while read line; do echo got $line; done"],
                                 stdin=True)
        cid = k.create(pod, cfg, pcfg)
        k.start(cid)
        url = k.call("Attach", pb.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
        out = _run(_session(url, proto, [bytes([0]) + b"hello\n"], close_stdin=False,
                            until=b"got hello"))
        assert b"got hello\n" in out[1]
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_attach_to_a_terminal_with_resize(cri, logdir: str) -> None:  # type: ignore[no-untyped-def]
    name, k, _d = cri
    proto = "v5.channel.k8s.io" if name == "ketchd" else "v4.channel.k8s.io"
    pcfg = k.pod_config("attached-tty", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("sh", BUSYBOX, ["sh"], tty=True, stdin=True), pcfg)
        k.start(cid)
        url = k.call("Attach", pb.AttachRequest(container_id=cid, stdin=True, stdout=True, tty=True)).url
        resize = bytes([4]) + json.dumps({"Width": 77, "Height": 11}).encode()
        out = _run(_session(url, proto, [resize, bytes([0]) + b"stty size; tty\n"], close_stdin=False,
                            until=b"/dev/pts/"))
        assert b"11 77" in out[1] and b"/dev/pts/" in out[1]
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)
