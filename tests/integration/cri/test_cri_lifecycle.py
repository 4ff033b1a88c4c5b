"""Pods and containers through the CRI, the same client against ketchd and containerd."""

from __future__ import annotations

import os
import re
import time

import grpc
import pytest

from ketch.cri.client import CriClient, pb
from ketch.cri.harness import BUSYBOX, BUSYBOX_USR1, Daemon

pytestmark = [pytest.mark.root, pytest.mark.peer]

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF]) (.*)$")


def _pod(c: CriClient, name: str, logdir: str, **kw: object) -> tuple[str, pb.PodSandboxConfig]:
    cfg = c.pod_config(name, log_dir=os.path.join(logdir, name), **kw)  # type: ignore[arg-type]
    return c.run_pod(cfg), cfg


def _teardown(c: CriClient, pod: str) -> None:
    c.stop_pod(pod)
    c.remove_pod(pod)


def _run(c: CriClient, pod: str, pcfg: pb.PodSandboxConfig, name: str, cmd: list[str], image: str = BUSYBOX,
         **kw: object) -> str:
    cid = c.create(pod, c.container_config(name, image, cmd, **kw), pcfg)  # type: ignore[arg-type]
    c.start(cid)
    return cid


def _log(logdir: str, pod: str, name: str) -> list[tuple[str, str, str]]:
    out = []
    with open(os.path.join(logdir, pod, f"{name}.log")) as f:
        for line in f.read().splitlines():
            m = LOG_LINE.match(line)
            assert m, f"not a CRI log line: {line!r}"
            out.append((m.group(4), m.group(5), m.group(6)))
    return out


def _until(fn, what: str, deadline: float = 20.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_two_containers_share_the_pod_network(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, c, _d = cri
    pod, pcfg = _pod(c, "web", logdir)
    try:
        _run(c, pod, pcfg, "server", ["httpd", "-f", "-p", "8080", "-h", "/www"])
        client = _run(c, pod, pcfg, "client", ["sleep", "3600"])

        def fetch() -> bytes:
            r = c.exec_sync(client, ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html"])
            return bytes(r.stdout) if r.exit_code == 0 else b""

        assert _until(fetch, "httpd to answer on localhost") == b"hello from ketch\n"
        st = c.pod_status(pod).status
        assert st.state == pb.SANDBOX_READY
        assert st.network.ip.startswith("10.77.")
        # Same UTS namespace: the pod's hostname everywhere.
        assert c.exec_sync(client, ["hostname"]).stdout == b"web\n"
    finally:
        _teardown(c, pod)


def test_logs_are_in_cri_format_with_partial_lines(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, c, _d = cri
    pod, pcfg = _pod(c, "logs", logdir)
    long_line = "x" * 40000
    try:
        cid = _run(c, pod, pcfg, "talker", ["sh", "-c", f"echo first; echo oops >&2; echo {long_line}; echo last"])
        st = c.wait_state(cid, pb.CONTAINER_EXITED)
        assert st.exit_code == 0 and st.reason == "Completed"
        lines = _log(logdir, "logs", "talker")
        assert ("stdout", "F", "first") in lines
        assert ("stderr", "F", "oops") in lines
        # A line longer than the monitor's buffer arrives as P chunks closed by an F chunk; joined, it is whole.
        out = [(tag, msg) for stream, tag, msg in lines if stream == "stdout"]
        i = next(i for i, (_t, m) in enumerate(out) if m.startswith("xxx"))
        joined, j = "", i
        while out[j][0] == "P":
            joined += out[j][1]
            j += 1
        joined += out[j][1]
        assert j > i, "the long line was not split into partial chunks"
        assert joined == long_line
        assert out[-1] == ("F", "last")
    finally:
        _teardown(c, pod)


def test_exec_sync_output_exit_code_and_timeout(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    name, c, _d = cri
    pod, pcfg = _pod(c, "execs", logdir)
    try:
        cid = _run(c, pod, pcfg, "box", ["sleep", "3600"], env={"GREETING": "hi"})
        r = c.exec_sync(cid, ["sh", "-c", "echo $GREETING; echo err >&2; exit 3"])
        assert (r.stdout, r.stderr, r.exit_code) == (b"hi\n", b"err\n", 3)
        with pytest.raises(grpc.RpcError) as e:
            c.exec_sync(cid, ["sleep", "31"], timeout=1)
        if name == "ketchd":
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The timed-out command is gone, not left running in the container.
            ps = c.exec_sync(cid, ["ps", "-o", "args"]).stdout.decode()
            assert "sleep 31" not in ps
    finally:
        _teardown(c, pod)


def test_container_over_its_memory_limit_is_oomkilled(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, c, _d = cri
    pod, pcfg = _pod(c, "oom", logdir)
    try:
        # tail buffers an endless line from /dev/zero: memory grows until the cgroup's OOM killer ends it.
        cid = _run(c, pod, pcfg, "hog", ["tail", "/dev/zero"], memory=32 * 1024 * 1024)
        st = c.wait_state(cid, pb.CONTAINER_EXITED, deadline=60)
        assert st.reason == "OOMKilled"
        assert st.exit_code == 137
    finally:
        _teardown(c, pod)


def test_image_stop_signal_is_used(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, c, _d = cri
    pod, pcfg = _pod(c, "sig", logdir)
    try:
        script = 'trap "echo got-usr1; exit 7" USR1; echo ready; while true; do sleep 0.1; done'
        cid = _run(c, pod, pcfg, "usr1", ["sh", "-c", script], image=BUSYBOX_USR1)
        _until(lambda: ("stdout", "F", "ready") in _log(logdir, "sig", "usr1"), "the trap to be set")
        c.stop(cid, timeout=30)
        st = c.status(cid)
        assert st.state == pb.CONTAINER_EXITED and st.exit_code == 7
        assert ("stdout", "F", "got-usr1") in _log(logdir, "sig", "usr1")
    finally:
        _teardown(c, pod)


def test_grace_period_then_sigkill(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, c, _d = cri
    pod, pcfg = _pod(c, "grace", logdir)
    try:
        script = 'trap "echo got-term" TERM; echo ready; while true; do sleep 0.1; done'
        cid = _run(c, pod, pcfg, "stubborn", ["sh", "-c", script])
        _until(lambda: ("stdout", "F", "ready") in _log(logdir, "grace", "stubborn"), "the trap to be set")
        c.stop(cid, timeout=1)
        st = c.status(cid)
        assert st.state == pb.CONTAINER_EXITED
        assert st.exit_code == 137  # SIGTERM was ignored, so SIGKILL ended it after the grace period
        assert ("stdout", "F", "got-term") in _log(logdir, "grace", "stubborn")
    finally:
        _teardown(c, pod)


def test_list_filters_and_label_selectors(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, c, _d = cri
    pod_a, cfg_a = _pod(c, "list-a", logdir, labels={"app": "a", "tier": "web"})
    pod_b, cfg_b = _pod(c, "list-b", logdir, labels={"app": "b"})
    try:
        ca = _run(c, pod_a, cfg_a, "one", ["sleep", "3600"], labels={"role": "main"})
        cb = c.create(pod_b, c.container_config("two", BUSYBOX, ["sleep", "3600"]), cfg_b)
        sel = c.call("ListPodSandbox", pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(
            label_selector={"app": "a", "tier": "web"}))).items
        assert [p.id for p in sel] == [pod_a]
        running = c.call("ListContainers", pb.ListContainersRequest(filter=pb.ContainerFilter(
            state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)))).containers
        assert ca in {x.id for x in running} and cb not in {x.id for x in running}
        by_pod = c.call("ListContainers", pb.ListContainersRequest(filter=pb.ContainerFilter(
            pod_sandbox_id=pod_b))).containers
        assert [x.id for x in by_pod] == [cb]
        by_label = c.call("ListContainers", pb.ListContainersRequest(filter=pb.ContainerFilter(
            label_selector={"role": "main"}))).containers
        assert [x.id for x in by_label] == [ca]
        stats = c.call("ContainerStats", pb.ContainerStatsRequest(container_id=ca)).stats
        assert stats.attributes.id == ca and stats.memory.working_set_bytes.value > 0
        assert stats.cpu.usage_core_nano_seconds.value > 0
        c.stop_pod(pod_b)
        ready = c.call("ListPodSandbox", pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(
            state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)))).items
        assert pod_a in {p.id for p in ready} and pod_b not in {p.id for p in ready}
    finally:
        _teardown(c, pod_a)
        _teardown(c, pod_b)


def test_unknown_ids(cri: tuple[str, CriClient, Daemon]) -> None:
    name, c, _d = cri
    missing = "0" * 64
    for call, req in [
        ("ContainerStatus", pb.ContainerStatusRequest(container_id=missing)),
        ("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=missing)),
        ("StartContainer", pb.StartContainerRequest(container_id=missing)),
        ("ExecSync", pb.ExecSyncRequest(container_id=missing, cmd=["true"])),
        ("ContainerStats", pb.ContainerStatsRequest(container_id=missing)),
    ]:
        with pytest.raises(grpc.RpcError) as e:
            c.call(call, req)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, call
    # Stop and Remove of what does not exist succeed (api.proto: idempotent; kubelet retries them).
    # containerd 1.6 still answers NOT_FOUND there (later releases follow api.proto).
    for fn in (c.stop, c.remove, c.stop_pod, c.remove_pod):
        try:
            fn(missing)
        except grpc.RpcError as e:
            assert name == "containerd", f"{fn.__name__}: {e}"
            assert e.code() == grpc.StatusCode.NOT_FOUND


def test_host_port_mapping_on_loopback(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    import random
    import socket
    import urllib.request

    _name, c, _d = cri
    while True:  # a host port nothing listens on
        port = random.randint(31000, 32000)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
    pcfg = c.pod_config("ports", log_dir=os.path.join(logdir, "ports"))
    pcfg.port_mappings.append(pb.PortMapping(container_port=8080, host_port=port, host_ip="127.0.0.1"))
    pod = c.run_pod(pcfg)
    try:
        _run(c, pod, pcfg, "web", ["httpd", "-f", "-p", "8080", "-h", "/www"])

        def fetch() -> bytes:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as r:
                    return bytes(r.read())
            except OSError:
                return b""

        assert _until(fetch, f"127.0.0.1:{port} to reach the pod") == b"hello from ketch\n"
    finally:
        _teardown(c, pod)


def test_exec_sync_output_is_capped(k: CriClient, logdir: str) -> None:
    from ketch.cri.containers import EXEC_OUTPUT_LIMIT

    pod, pcfg = _pod(k, "bigexec", logdir)
    try:
        cid = _run(k, pod, pcfg, "box", ["sleep", "3600"])
        r = k.exec_sync(cid, ["sh", "-c", "head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2; exit 2"],
                        timeout=60)
        assert len(r.stdout) == len(r.stderr) == EXEC_OUTPUT_LIMIT
        assert r.exit_code == 2  # the command ran to its end; only what is kept was cut
    finally:
        _teardown(k, pod)
