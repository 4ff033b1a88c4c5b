"""Exec, Attach and PortForward over SPDY/3.1, the upgrade kubelet, kubectl and crictl fall back to, with a
client built on ketch.cri.spdy that opens streams the way client-go's remotecommand and portforward do. The
same tests run against containerd's streaming server (kubelet's own SPDY code) to prove the client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from ketch.cri import spdy
from ketch.cri.client import pb
from ketch.cri.harness import BUSYBOX

pytestmark = [pytest.mark.root, pytest.mark.peer]


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _remotecommand(url: str, protocol: str, *, stdin: list[bytes] | None = None, close_stdin: bool = True,
                         stderr: bool = True, tty: bool = False, resize: dict[str, int] | None = None,
                         until: bytes | None = None) -> dict[str, Any]:
    """client-go's v4/v3/v2 stream order: error, stdin, stdout, stderr, resize; then copy until the
    server ends stdout and stderr, and read the error stream to its end."""
    session, chosen = await spdy.connect(url, [protocol])
    out: dict[str, Any] = {"protocol": chosen, "stdout": b"", "stderr": b""}
    try:
        error = await session.open([("streamtype", "error")])
        sin = await session.open([("streamtype", "stdin")]) if stdin is not None else None
        sout = await session.open([("streamtype", "stdout")])
        serr = await session.open([("streamtype", "stderr")]) if stderr and not tty else None
        if tty:
            rs = await session.open([("streamtype", "resize")])
            if resize is not None:
                await rs.write(json.dumps(resize).encode() + b"\n")
        if sin is not None:
            for chunk in stdin or []:
                await sin.write(chunk)
            if close_stdin:
                await sin.close()

        async def collect(name: str, s: spdy.Stream) -> None:
            while data := await s.read():
                out[name] += data
                if until is not None and until in out[name]:
                    return

        if until is not None:  # a session that does not end by itself: read stdout up to ``until``
            await collect("stdout", sout)
        else:
            await asyncio.gather(collect("stdout", sout), *([collect("stderr", serr)] if serr else []))
            err = b""
            while data := await error.read():
                err += data
            out["error"] = err
    finally:
        await session.close()
    return out


@pytest.fixture
def box(cri, logdir: str):  # type: ignore[no-untyped-def]
    _name, k, _d = cri
    pcfg = k.pod_config("spdy", log_dir=logdir)
    pod = k.run_pod(pcfg)
    cid = k.create(pod, k.container_config("box", BUSYBOX, ["httpd", "-f", "-p", "8080", "-h", "/www"]), pcfg)
    k.start(cid)
    yield k, pod, cid
    k.stop_pod(pod)
    k.remove_pod(pod)


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"])
def test_exec_with_stdin_stderr_and_exit_code(box, protocol: str) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid = box
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "cat; echo e >&2; exit 4"],
                                        stdin=True, stdout=True, stderr=True)).url
    out = _run(_remotecommand(url, protocol, stdin=[b"from ", b"stdin\n"]))
    assert out["protocol"] == protocol
    assert out["stdout"] == b"from stdin\n" and out["stderr"] == b"e\n"
    if protocol.startswith("v4"):
        status = json.loads(out["error"])
        assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]
    else:
        assert b"exit" in out["error"] and b"4" in out["error"]


def test_exec_success_large_output_and_one_time_url(box) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid = box
    # More than the 64 KiB initial window, so flow control must let it through.
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "head -c 300000 /dev/zero"],
                                        stdout=True)).url
    out = _run(_remotecommand(url, "v4.channel.k8s.io", stderr=False))
    assert out["stdout"] == bytes(300000)
    assert json.loads(out["error"])["status"] == "Success"
    with pytest.raises(spdy.SpdyError, match="404"):
        _run(spdy.connect(url, ["v4.channel.k8s.io"]))


def test_exec_with_a_terminal_and_resize(box) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid = box
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["sh"], tty=True, stdin=True, stdout=True)).url
    out = _run(_remotecommand(url, "v4.channel.k8s.io", stdin=[b"tty -s && echo is-a-tty; stty size; exit 3\n"],
                              close_stdin=False, tty=True, resize={"Width": 91, "Height": 17}))
    text = out["stdout"].decode(errors="replace")
    assert "is-a-tty" in text and "17 91" in text
    assert json.loads(out["error"])["details"]["causes"][0]["message"] == "3"


def test_unknown_protocol_is_refused(box) -> None:  # type: ignore[no-untyped-def]
    k, _pod, cid = box
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["true"], stdout=True)).url
    with pytest.raises(spdy.SpdyError, match="403"):
        _run(spdy.connect(url, ["v9.channel.k8s.io"]))


def test_attach_with_stdin(cri, logdir: str) -> None:  # type: ignore[no-untyped-def]
    _name, k, _d = cri
    pcfg = k.pod_config("spdy-attached", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cfg = k.container_config("talk", BUSYBOX, ["sh", "-c", "while read line; do echo got $line; done"],
                                 stdin=True)
        cid = k.create(pod, cfg, pcfg)
        k.start(cid)
        url = k.call("Attach", pb.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
        out = _run(_remotecommand(url, "v4.channel.k8s.io", stdin=[b"hello\n"], close_stdin=False,
                                  until=b"got hello"))
        assert b"got hello\n" in out["stdout"]
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_port_forward_two_connections(box) -> None:  # type: ignore[no-untyped-def]
    k, pod, cid = box
    deadline = time.monotonic() + 20
    while k.exec_sync(cid, ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).exit_code != 0:
        assert time.monotonic() < deadline, "httpd did not start"
        time.sleep(0.1)
    url = k.call("PortForward", pb.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url

    async def forward() -> tuple[list[bytes], bytes]:
        session, chosen = await spdy.connect(url, ["portforward.k8s.io"])
        assert chosen == "portforward.k8s.io"
        try:
            async def one(rid: int, port: int) -> tuple[bytes, bytes]:
                # client-go portforward: the error stream first (our half closed at once), then data.
                hdr = [("port", str(port)), ("requestid", str(rid))]
                error = await session.open([("streamtype", "error"), *hdr])
                await error.close()
                data = await session.open([("streamtype", "data"), *hdr])
                await data.write(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
                await data.close()
                body = b""
                while chunk := await data.read():
                    body += chunk
                err = b""
                while chunk := await error.read():
                    err += chunk
                return body, err

            results = await asyncio.gather(one(0, 8080), one(1, 8080))
            _b, refused = await one(2, 8081)
        finally:
            await session.close()
        assert all(err == b"" for _body, err in results)
        return [body for body, _err in results], refused

    bodies, refused = _run(forward())
    for body in bodies:
        assert body.startswith(b"HTTP/1.") and body.endswith(b"hello from ketch\n")
    assert b"8081" in refused
