"""Exec, Attach and PortForward over SPDY/3.1, the upgrade kubelet, kubectl and crictl fall back to, with a
client built on ketch.cri.spdy that opens streams the way client-go's remotecommand and portforward do. The
same tests run against containerd's streaming server (kubelet's own SPDY code) to prove the client."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import subprocess
import termios
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from ketch.cri import spdy
from ketch.cri.client import pb
from ketch.cri.harness import BUSYBOX
from ketch.testing.peers import needs

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


_RESOURCES = [{"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"],
               "shortNames": ["po"]},
              {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
               "verbs": ["create", "get"]},
              {"name": "pods/portforward", "singularName": "", "namespaced": True, "kind": "PodPortForwardOptions",
               "verbs": ["create", "get"]}]
_DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": _RESOURCES},
    "/api/v1/namespaces/default/pods/box": {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"name": "box", "namespace": "default"},
        "spec": {"containers": [{"name": "box", "image": "busybox", "ports": [{"containerPort": 8080}]}]},
        "status": {"phase": "Running"}},
}


class _FakeApiserver:
    """Just enough of an apiserver for ``kubectl exec`` and ``kubectl port-forward``: the pod object, and the
    exec/portforward upgrade passed through byte for byte to the CRI streaming URL (as the apiserver and
    kubelet proxy it), so kubectl's own Go SPDY client talks to ketchd."""

    def __init__(self, stream_url: str) -> None:
        self.stream_url = stream_url
        self.seen: list[str] = []
        self.upgrades: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                request_line, _, rest = head.partition(b"\r\n")
                method, target, _v = request_line.decode().split(" ")
                self.seen.append(f"{method} {target.split('?')[0]}")
                path = target.split("?")[0]
                if path.endswith(("/exec", "/portforward")) and b"upgrade" in rest.lower():
                    self.upgrades += [line.split(b":", 1)[1].strip().decode() for line in rest.split(b"\r\n")
                                      if line.lower().startswith(b"upgrade:")]
                    await self._proxy(rest, r, w)
                    return
                if method == "GET" and path in _DISCOVERY:
                    body, status = json.dumps(_DISCOVERY[path]).encode(), b"200 OK"
                else:
                    body, status = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}', b"404 Not Found"
                w.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            w.close()

    async def _proxy(self, rest: bytes, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        u = urlsplit(self.stream_url)
        ur, uw = await asyncio.open_connection(u.hostname, u.port)
        uw.write(f"POST {u.path} HTTP/1.1\r\n".encode() + rest)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.write_eof()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))
        uw.close()
        w.close()


def _kubeconfig(tmp_path: Any, port: int) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: nobody, user: {{}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: nobody, namespace: default}}}}]
current-context: fake
""")
    return str(path)


def _kubectl_env() -> dict[str, str]:
    # kubectl 1.30+ tries WebSocket first; these make it use SPDY, the path the apiserver still proxies.
    return {**os.environ, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}


@needs("kubectl")
def test_kubectl_exec_over_spdy(k, logdir: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pcfg = k.pod_config("kubectl-exec", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("box", BUSYBOX, ["sleep", "300"]), pcfg)
        k.start(cid)
        cmd = ["sh", "-c", "cat; echo to-stderr >&2; head -c 200000 /dev/zero | wc -c; exit 3"]
        url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=cmd, stdin=True, stdout=True, stderr=True)).url

        async def main() -> subprocess.CompletedProcess[bytes]:
            api = _FakeApiserver(url)
            port = await api.start()
            p = await asyncio.create_subprocess_exec(
                "kubectl", "--kubeconfig", _kubeconfig(tmp_path, port), "exec", "-i", "box", "--", *cmd,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_kubectl_env())
            out, err = await p.communicate(b"hello from kubectl\n")
            assert api.server is not None
            api.server.close()
            assert api.upgrades == ["SPDY/3.1"]
            return subprocess.CompletedProcess([], p.returncode or 0, out, err)

        res = _run(main())
        assert res.stdout == b"hello from kubectl\n200000\n", res.stderr
        assert b"to-stderr" in res.stderr
        assert res.returncode == 3, res.stderr
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


@needs("kubectl")
def test_kubectl_port_forward_over_spdy(k, logdir: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pcfg = k.pod_config("kubectl-pf", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("box", BUSYBOX, ["httpd", "-f", "-p", "8080", "-h", "/www"]), pcfg)
        k.start(cid)
        deadline = time.monotonic() + 20
        while k.exec_sync(cid, ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).exit_code != 0:
            assert time.monotonic() < deadline, "httpd did not start"
            time.sleep(0.1)
        url = k.call("PortForward", pb.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url

        async def main() -> list[bytes]:
            api = _FakeApiserver(url)
            port = await api.start()
            p = await asyncio.create_subprocess_exec(
                "kubectl", "--kubeconfig", _kubeconfig(tmp_path, port), "port-forward", "pod/box", ":8080",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_kubectl_env())
            try:
                assert p.stdout is not None
                line = await p.stdout.readline()  # Forwarding from 127.0.0.1:NNNNN -> 8080
                assert line.startswith(b"Forwarding from 127.0.0.1:"), line
                local = int(line.split(b":")[1].split()[0])
                bodies = []
                for _ in range(2):  # two connections over the one SPDY session
                    r, w = await asyncio.open_connection("127.0.0.1", local)
                    w.write(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
                    bodies.append(await r.read())
                    w.close()
                assert api.upgrades == ["SPDY/3.1"]
                return bodies
            finally:
                p.terminate()
                await p.wait()
                assert api.server is not None
                api.server.close()

        for body in _run(main()):
            assert body.startswith(b"HTTP/1.") and body.endswith(b"hello from ketch\n")
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


@needs("kubectl")
def test_kubectl_exec_with_a_terminal_over_spdy(k, logdir: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pcfg = k.pod_config("kubectl-tty", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("box", BUSYBOX, ["sleep", "300"]), pcfg)
        k.start(cid)
        cmd = ["sh", "-c", "stty size; tty; exit 5"]
        url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=cmd, tty=True, stdin=True, stdout=True)).url

        async def main() -> tuple[int, bytes]:
            api = _FakeApiserver(url)
            port = await api.start()
            master, slave = os.openpty()
            # kubectl sends its terminal's size on the resize stream when the session starts.
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 23, 101, 0, 0))
            try:
                p = await asyncio.create_subprocess_exec(
                    "kubectl", "--kubeconfig", _kubeconfig(tmp_path, port), "exec", "-it", "box", "--", *cmd,
                    stdin=slave, stdout=slave, stderr=slave, env=_kubectl_env())
                os.close(slave)
                slave = -1
                out = b""
                loop = asyncio.get_running_loop()
                while True:
                    try:
                        chunk = await loop.run_in_executor(None, os.read, master, 4096)
                    except OSError:  # EIO: kubectl has exited and closed the terminal
                        break
                    if not chunk:
                        break
                    out += chunk
                code = await p.wait()
            finally:
                os.close(master)
                if slave >= 0:
                    os.close(slave)
                assert api.server is not None
                api.server.close()
            assert api.upgrades == ["SPDY/3.1"]
            return code, out

        code, out = _run(main())
        assert b"23 101" in out and b"/dev/pts/" in out, out
        assert code == 5, out
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_attach_to_a_terminal_with_resize(cri, logdir: str) -> None:  # type: ignore[no-untyped-def]
    _name, k, _d = cri
    pcfg = k.pod_config("spdy-attached-tty", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("sh", BUSYBOX, ["sh"], tty=True, stdin=True), pcfg)
        k.start(cid)
        url = k.call("Attach", pb.AttachRequest(container_id=cid, stdin=True, stdout=True, tty=True)).url
        out = _run(_remotecommand(url, "v4.channel.k8s.io", stdin=[b"stty size; tty\n"], close_stdin=False,
                                  tty=True, resize={"Width": 77, "Height": 11}, until=b"/dev/pts/"))
        assert b"11 77" in out["stdout"] and b"/dev/pts/" in out["stdout"]
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_exec_without_a_protocol_header_is_refused(box) -> None:  # type: ignore[no-untyped-def]
    """httpstream.Handshake requires X-Stream-Protocol-Version (400 without it)."""
    k, _pod, cid = box
    url = k.call("Exec", pb.ExecRequest(container_id=cid, cmd=["true"], stdout=True)).url
    with pytest.raises(spdy.SpdyError, match=r"400 Bad Request.*X-Stream-Protocol-Version is required"):
        _run(spdy.connect(url, []))
