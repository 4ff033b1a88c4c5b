"""ketchd-specific behaviour: restarts, bad input, cleanup, namespaces, images, events, other runtimes."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time

import grpc
import pytest

from ketch.cri.cgstats import cgroup_dirs, is_v2
from ketch.cri.client import CriClient, pb
from ketch.cri.harness import BUSYBOX, Daemon, free_network, remove_bridge, start_ketchd
from ketch.testing import make_rootfs

pytestmark = [pytest.mark.root, pytest.mark.peer]


def _until(fn, what: str, deadline: float = 20.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _code(fn, *a) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        fn(*a)
    return e.value.code()  # type: ignore[no-any-return]


def _memory_limit_file(cgroup: str) -> str:
    if is_v2():
        return f"/sys/fs/cgroup{cgroup}/memory.max"
    return f"/sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes"


def _ls(path: str) -> list[str]:
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _mounts_under(base: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(base)]


def test_restart_keeps_containers_logs_and_exit_codes(tmp_path_factory: pytest.TempPathFactory) -> None:
    import tempfile

    base = tempfile.mkdtemp(prefix="kcri-r-", dir="/tmp")
    logdir = str(tmp_path_factory.mktemp("rlogs"))
    bridge, subnet = free_network()
    d = start_ketchd(base, make_rootfs, subnet=subnet, bridge=bridge)
    try:
        with d.client() as c:
            pcfg = c.pod_config("survivor", log_dir=logdir)
            pod = c.run_pod(pcfg)
            ticker = c.create(pod, c.container_config("ticker", BUSYBOX, [
                "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]), pcfg)
            c.start(ticker)
            quitter = c.create(pod, c.container_config("quitter", BUSYBOX, [
                "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo bye; exit 5"]), pcfg)
            c.start(quitter)
            orphan = c.create(pod, c.container_config("orphan", BUSYBOX, ["sleep", "600"]), pcfg)
            c.start(orphan)
            pid = c.status(ticker, verbose=True)
        d.stop()
        # While ketchd is down, one container loses its monitor (SIGKILL) and then dies: nobody records it.
        runc_root = os.path.join(base, "state", "runtime", "runc")
        with open(os.path.join(base, "state", "bundles", orphan, "persist", "conmon.pid")) as f:
            os.kill(int(f.read()), 9)
        subprocess.run(["runc", "--root", runc_root, "kill", orphan, "KILL"], check=True)
        # ketchd is down: the containers are not, and one of them ends meanwhile.
        subprocess.run(["runc", "--root", os.path.join(base, "state", "runtime", "runc"), "exec", quitter,
                        "touch", "/tmp/go"], check=True)
        _until(lambda: os.path.exists(os.path.join(base, "state", "exits", quitter)), "the exit file")
        before = os.path.getsize(os.path.join(logdir, "ticker.log"))
        d = start_ketchd(base, make_rootfs, subnet=subnet, bridge=bridge)
        with d.client() as c:
            st = c.status(ticker)
            assert st.state == pb.CONTAINER_RUNNING
            assert c.status(ticker, verbose=True) == pid
            assert c.exec_sync(ticker, ["echo", "still here"]).stdout == b"still here\n"
            q = c.status(quitter)
            assert (q.state, q.exit_code, q.reason) == (pb.CONTAINER_EXITED, 5, "Error")
            assert q.finished_at > q.started_at
            o = c.status(orphan)
            assert (o.state, o.exit_code, o.reason) == (pb.CONTAINER_EXITED, 255, "Error")
            assert "monitor" in o.message
            _until(lambda: os.path.getsize(os.path.join(logdir, "ticker.log")) > before, "more log lines")
            with open(os.path.join(logdir, "quitter.log")) as f:
                assert f.read().rstrip().endswith("stdout F bye")
            c.stop_pod(pod)
            c.remove_pod(pod)
    finally:
        d.stop()
        remove_bridge(bridge)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def test_bad_input_leaves_nothing_behind(k: CriClient, ketchd: Daemon, logdir: str) -> None:
    before_pods = {p.id for p in k.pods()}
    bad_names = ["", "bad/name", "../x", "-lead", "a" * 300]
    for n in bad_names:
        cfg = k.pod_config("ok", log_dir=logdir)
        cfg.metadata.name = n
        assert _code(k.run_pod, cfg) == grpc.StatusCode.INVALID_ARGUMENT, n
    cfg = k.pod_config("badhandler", log_dir=logdir)
    assert _code(k.run_pod, cfg, "no-such-handler") == grpc.StatusCode.INVALID_ARGUMENT
    assert {p.id for p in k.pods()} == before_pods

    pcfg = k.pod_config("strict", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        # The same name again while the first holds it.
        assert _code(k.run_pod, pcfg) == grpc.StatusCode.ALREADY_EXISTS
        missing = k.container_config("ghost", "localhost/no/such-image:1", ["true"])
        assert _code(k.create, pod, missing, pcfg) == grpc.StatusCode.NOT_FOUND
        hostnet = k.container_config("hostnet", BUSYBOX, ["true"])
        hostnet.linux.security_context.namespace_options.network = pb.NODE
        assert _code(k.create, pod, hostnet, pcfg) == grpc.StatusCode.INVALID_ARGUMENT
        hostpid = k.container_config("hostpid", BUSYBOX, ["true"])
        hostpid.linux.security_context.namespace_options.pid = pb.NODE
        assert _code(k.create, pod, hostpid, pcfg) == grpc.StatusCode.INVALID_ARGUMENT
        priv = k.container_config("priv", BUSYBOX, ["true"])
        priv.linux.security_context.privileged = True
        assert _code(k.create, pod, priv, pcfg) == grpc.StatusCode.INVALID_ARGUMENT
        badcap = k.container_config("badcap", BUSYBOX, ["true"])
        badcap.linux.security_context.capabilities.add_capabilities.append("CAP_NOPE")
        assert _code(k.create, pod, badcap, pcfg) == grpc.StatusCode.INVALID_ARGUMENT
        escape = k.container_config("escape", BUSYBOX, ["true"], log_path="../../etc/evil.log")
        assert _code(k.create, pod, escape, pcfg) == grpc.StatusCode.INVALID_ARGUMENT
        # The runtime itself refuses (no such executable): its message comes back, nothing is left.
        with pytest.raises(grpc.RpcError) as e:
            k.create(pod, k.container_config("noexec", BUSYBOX, ["/no/such/program"]), pcfg)
        assert e.value.code() == grpc.StatusCode.INTERNAL and "/no/such/program" in str(e.value.details())
        assert _mounts_under(os.path.join(ketchd.base, "state", "bundles")) == []
        assert k.containers() == [] or all(c.pod_sandbox_id != pod for c in k.containers())
        state = os.path.join(ketchd.base, "state")
        assert os.listdir(os.path.join(state, "bundles")) == []
        assert os.listdir(os.path.join(state, "containers")) == []
        # Every refused name is free again: a good container with each name works.
        for n in ("ghost", "hostnet", "hostpid", "priv", "badcap", "escape", "noexec"):
            cid = k.create(pod, k.container_config(n, BUSYBOX, ["true"]), pcfg)
            k.remove(cid)
        # Starting twice, and exec in a container that is not running.
        cid = k.create(pod, k.container_config("once", BUSYBOX, ["sleep", "60"]), pcfg)
        assert _code(k.exec_sync, cid, ["true"]) == grpc.StatusCode.FAILED_PRECONDITION
        k.start(cid)
        assert _code(k.start, cid) == grpc.StatusCode.FAILED_PRECONDITION
        never = k.create(pod, k.container_config("never", BUSYBOX, ["true"]), pcfg)
        k.stop_pod(pod)
        assert _code(k.start, never) == grpc.StatusCode.FAILED_PRECONDITION
        late = k.container_config("late", BUSYBOX, ["true"])
        assert _code(k.create, pod, late, pcfg) == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_fifty_pods_created_and_removed_leak_nothing(k: CriClient, ketchd: Daemon, logdir: str) -> None:
    state = os.path.join(ketchd.base, "state")
    ipam = os.path.join(ketchd.base, "root", "cni", "ipam", "kcri")
    ids: list[str] = []

    def snapshot() -> dict[str, object]:
        # Only what belongs to this daemon and these pods: other test runs may share the host.
        nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        cg = sorted(n for top in cgroup_dirs("/ketch") for n in os.listdir(top)
                    if any(n == f"pod-{i[:16]}" for i in ids))
        return {
            "mounts": _mounts_under(ketchd.base),
            "pods": os.listdir(os.path.join(state, "pods")),
            "records": os.listdir(os.path.join(state, "sandboxes")) + os.listdir(os.path.join(state, "containers")),
            "bundles": os.listdir(os.path.join(state, "bundles")),
            "ips": sorted(n for n in os.listdir(ipam) if n[0].isdigit()) if os.path.isdir(ipam) else [],
            "cgroups": cg,
            "nat": sorted(line for line in nat.splitlines() if any(i in line for i in ids)),
            "snapshots": _ls(os.path.join(ketchd.base, "root", "image", "snapshots", "overlay", "active")),
            "runtime": _ls(os.path.join(state, "runtime", "runc")),
            "holders": sorted(p for p in os.listdir("/proc") if p.isdigit() and _is_holder_of(p, ketchd.base)),
        }

    before = snapshot()
    pods = []
    for i in range(50):
        pcfg = k.pod_config(f"leak-{i}", log_dir=os.path.join(logdir, str(i)), pid=pb.POD if i % 2 else pb.CONTAINER)
        pcfg.port_mappings.append(pb.PortMapping(container_port=80, host_port=31000 + i))
        pod = k.run_pod(pcfg)
        ids.append(pod)
        cid = k.create(pod, k.container_config("c", BUSYBOX, ["sleep", "600"]), pcfg)
        k.start(cid)
        pods.append((pod, cid))
    during = snapshot()
    assert len(during["pods"]) == len(before["pods"]) + 50  # type: ignore[arg-type]
    assert len(during["ips"]) == len(before["ips"]) + 50  # type: ignore[arg-type]
    assert len(during["nat"]) >= 50  # type: ignore[arg-type]  # a DNAT rule per pod, naming it
    assert len(during["holders"]) == 25  # type: ignore[arg-type]
    for pod, cid in pods:
        k.stop(cid, 0)
        k.remove(cid)
        k.stop_pod(pod)
        k.remove_pod(pod)
    after = snapshot()
    # A leak is something there now that was not before (other tests may have cleaned up meanwhile).
    leaked = {key: sorted(set(v) - set(before[key])) for key, v in after.items()}  # type: ignore[call-overload]
    assert {key: v for key, v in leaked.items() if v} == {}


def _is_holder_of(pid: str, base: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return argv[0].endswith(b"unshare") and any(a.startswith(b"--pid=" + base.encode()) for a in argv)


def test_host_namespaces_and_pod_pid_namespace(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    name, k, _d = cri
    pcfg = k.pod_config("hostly", log_dir=logdir, pid=pb.POD)
    pcfg.linux.security_context.namespace_options.network = pb.NODE
    pcfg.linux.security_context.namespace_options.ipc = pb.NODE
    pcfg.hostname = ""  # kubelet sends none for host-network pods (runc refuses one without a UTS namespace)
    pod = k.run_pod(pcfg)
    try:
        st = k.pod_status(pod).status
        assert st.network.ip == ""  # host network: no CNI
        a = k.create(pod, k.container_config("a", BUSYBOX, ["sleep", "600"]), pcfg)
        b_cfg = k.container_config("b", BUSYBOX, ["sleep", "600"])
        b_cfg.linux.security_context.namespace_options.pid = pb.POD
        b_cfg.linux.security_context.namespace_options.network = pb.NODE
        b = k.create(pod, b_cfg, pcfg)
        k.start(a)
        k.start(b)
        # Host network: the host's interfaces are visible.
        links = k.exec_sync(b, ["ip", "link"]).stdout.decode()
        assert "lo:" in links and "eth0@" not in links.split("lo:")[0]
        ps = k.exec_sync(b, ["ps", "-o", "args"]).stdout.decode()
        assert "sleep infinity" in ps  # b shares the pod's PID namespace (its init is the holder)
        assert k.exec_sync(b, ["hostname"]).stdout.decode().strip() == os.uname().nodename
        # Host IPC: the host's IPC namespace, and (ketchd; containerd 1.6 keeps a private one) its /dev/shm.
        assert k.exec_sync(b, ["readlink", "/proc/self/ns/ipc"]).stdout.decode().strip() == \
            os.readlink("/proc/self/ns/ipc")
        if name == "ketchd":
            marker = f"kcri-shm-{os.getpid()}"
            assert k.exec_sync(b, ["touch", f"/dev/shm/{marker}"]).exit_code == 0
            try:
                assert os.path.exists(f"/dev/shm/{marker}")
            finally:
                os.unlink(f"/dev/shm/{marker}")
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_sysctls_dns_and_hostname(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    _name, k, _d = cri
    pcfg = k.pod_config("tuned", log_dir=logdir, hostname="tuned-host")
    pcfg.linux.sysctls["net.ipv4.ip_unprivileged_port_start"] = "99"
    pcfg.dns_config.servers.append("10.77.0.10")
    pcfg.dns_config.searches.append("svc.cluster.local")
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("t", BUSYBOX, ["sleep", "600"]), pcfg)
        k.start(cid)
        out = k.exec_sync(cid, ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]).stdout
        assert out == b"99\n"
        resolv = k.exec_sync(cid, ["cat", "/etc/resolv.conf"]).stdout.decode()
        assert "nameserver 10.77.0.10" in resolv and "search svc.cluster.local" in resolv
        assert k.exec_sync(cid, ["hostname"]).stdout == b"tuned-host\n"
        assert k.exec_sync(cid, ["cat", "/etc/hostname"]).stdout == b"tuned-host\n"
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_security_context_reaches_the_process(cri: tuple[str, CriClient, Daemon], logdir: str) -> None:
    name, k, _d = cri
    pcfg = k.pod_config("secure", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cfg = k.container_config("s", BUSYBOX, ["sleep", "600"])
        sc = cfg.linux.security_context
        sc.run_as_user.value = 1000
        sc.run_as_group.value = 2000
        sc.supplemental_groups.append(3000)
        sc.readonly_rootfs = True
        sc.no_new_privs = True
        sc.capabilities.drop_capabilities.append("ALL")
        sc.capabilities.add_capabilities.append("NET_BIND_SERVICE")
        sc.seccomp.profile_type = pb.SecurityProfile.RuntimeDefault
        cid = k.create(pod, cfg, pcfg)
        k.start(cid)
        assert k.exec_sync(cid, ["id", "-u"]).stdout == b"1000\n"
        assert k.exec_sync(cid, ["id", "-G"]).stdout.split() == [b"2000", b"3000"]
        status = k.exec_sync(cid, ["cat", "/proc/self/status"]).stdout.decode()
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert fields["NoNewPrivs"].strip() == "1"
        assert fields["Seccomp"].strip() == "2"
        assert int(fields["CapBnd"], 16) == 1 << 10  # CAP_NET_BIND_SERVICE only
        r = k.exec_sync(cid, ["touch", "/newfile"])
        assert r.exit_code != 0 and b"Read-only" in r.stderr
        if name == "ketchd":  # ContainerStatus.user came after containerd 1.6
            st = k.status(cid)
            assert (st.user.linux.uid, st.user.linux.gid) == (1000, 2000)
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_container_events_stream(k: CriClient, logdir: str) -> None:
    events: queue.Queue[tuple[str, int]] = queue.Queue()
    stream = k.runtime.GetContainerEvents(pb.GetEventsRequest())

    def reader() -> None:
        try:
            for ev in stream:
                events.put((ev.container_id, ev.container_event_type))
        except grpc.RpcError:
            pass

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.2)  # the server registers the subscriber when the stream starts
    pcfg = k.pod_config("evented", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("e", BUSYBOX, ["sh", "-c", "exit 0"]), pcfg)
        k.start(cid)
        k.wait_state(cid, pb.CONTAINER_EXITED)
        k.remove(cid)
        want = [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT, pb.CONTAINER_STOPPED_EVENT,
                pb.CONTAINER_DELETED_EVENT]
        seen: list[int] = []
        while len(seen) < len(want):
            ident, kind = events.get(timeout=20)
            if ident == cid:
                seen.append(kind)
        assert seen == want
    finally:
        stream.cancel()
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_runtime_status_config_and_images(k: CriClient) -> None:
    st = k.call("Status", pb.StatusRequest(verbose=True))
    conds = {c.type: c.status for c in st.status.conditions}
    assert conds == {"RuntimeReady": True, "NetworkReady": True}
    assert "config" in st.info and {"ketch", "runc"} <= {h.name for h in st.runtime_handlers}
    rc = k.call("RuntimeConfig", pb.RuntimeConfigRequest())
    assert rc.linux.cgroup_driver == pb.CGROUPFS
    v = k.call("Version", pb.VersionRequest())
    assert (v.runtime_name, v.runtime_api_version) == ("ketch", "v1")
    imgs = k.call("ListImages", pb.ListImagesRequest(), image=True).images
    assert BUSYBOX in {t for i in imgs for t in i.repo_tags}
    one = k.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=BUSYBOX), verbose=True), image=True)
    assert one.image.id.startswith("sha256:") and one.image.size > 100_000 and "info" in one.info
    by_id = k.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=one.image.id)), image=True)
    assert by_id.image.id == one.image.id
    none = k.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image="localhost/absent:1")), image=True)
    assert not none.HasField("image")
    fs = k.call("ImageFsInfo", pb.ImageFsInfoRequest(), image=True).image_filesystems[0]
    assert fs.used_bytes.value > 1_000_000 and fs.inodes_used.value > 0
    with pytest.raises(grpc.RpcError) as e:
        k.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image="localhost:1/absent:1")), image=True)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.RpcError) as e:
        k.call("CheckpointContainer", pb.CheckpointContainerRequest(container_id="x"))
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("handler", ["ketch", "crun"])
def test_other_runtime_handlers(k: CriClient, logdir: str, handler: str) -> None:
    if handler == "crun":
        from ketch.testing.peers import ensure_crun_hugetlb, require

        require("crun")
        ensure_crun_hugetlb()
    pcfg = k.pod_config("kr", log_dir=logdir, uid=f"uid-kr-{handler}")
    pod = k.run_pod(pcfg, handler=handler)
    try:
        box = k.create(pod, k.container_config("box", BUSYBOX, ["sleep", "600"]), pcfg)
        k.start(box)
        r = k.exec_sync(box, ["sh", "-c", "hostname; echo err >&2; exit 6"])
        assert (r.stdout, r.stderr, r.exit_code) == (b"kr\n", b"err\n", 6)
        with pytest.raises(grpc.RpcError) as e:
            k.exec_sync(box, ["sleep", "32"], timeout=1)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "sleep 32" not in k.exec_sync(box, ["ps", "-o", "args"]).stdout.decode()
        k.stop(box, 1)
        cid = k.create(pod, k.container_config("k", BUSYBOX, ["sh", "-c", "hostname; echo done"]), pcfg)
        k.start(cid)
        st = k.wait_state(cid, pb.CONTAINER_EXITED)
        assert (st.exit_code, st.reason) == (0, "Completed")
        with open(os.path.join(logdir, "k.log")) as f:
            lines = [line.split(" ", 3)[3] for line in f.read().splitlines()]
        assert lines == ["kr", "done"]
        assert k.pod_status(pod).status.runtime_handler == handler
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)


def test_resources_stats_metrics_and_log_reopen(k: CriClient, logdir: str) -> None:
    import json

    pcfg = k.pod_config("limits", log_dir=logdir)
    pod = k.run_pod(pcfg)
    try:
        cid = k.create(pod, k.container_config("busy", BUSYBOX, [
            "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done"], memory=64 << 20), pcfg)
        k.start(cid)
        info = json.loads(k.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid,
                                                                                verbose=True)).info["info"])
        cgroup = info["cgroupsPath"]
        assert info["runtimeSpec"]["linux"]["cgroupsPath"] == cgroup
        limit_file = _memory_limit_file(cgroup)
        with open(limit_file) as f:
            assert int(f.read()) == 64 << 20
        k.call("UpdateContainerResources", pb.UpdateContainerResourcesRequest(
            container_id=cid, linux=pb.LinuxContainerResources(memory_limit_in_bytes=96 << 20, cpu_shares=256)))
        with open(limit_file) as f:
            assert int(f.read()) == 96 << 20
        st = k.status(cid)
        assert st.resources.linux.memory_limit_in_bytes == 96 << 20 and st.resources.linux.cpu_shares == 256

        parent = json.loads(k.pod_status(pod, verbose=True).info["info"])["cgroupParent"]
        k.call("UpdatePodSandboxResources", pb.UpdatePodSandboxResourcesRequest(
            pod_sandbox_id=pod, resources=pb.LinuxContainerResources(memory_limit_in_bytes=200 << 20)))
        with open(_memory_limit_file(parent)) as f:
            assert int(f.read()) == 200 << 20

        stats = k.call("PodSandboxStats", pb.PodSandboxStatsRequest(pod_sandbox_id=pod)).stats
        assert stats.attributes.id == pod and stats.linux.memory.working_set_bytes.value > 0
        assert [c.attributes.id for c in stats.linux.containers] == [cid]
        assert stats.linux.network.default_interface.name == "eth0"
        assert stats.linux.process.process_count.value >= 1
        listed = k.call("ListPodSandboxStats", pb.ListPodSandboxStatsRequest(
            filter=pb.PodSandboxStatsFilter(id=pod))).stats
        assert [s.attributes.id for s in listed] == [pod]
        metrics = k.call("ListPodSandboxMetrics", pb.ListPodSandboxMetricsRequest()).pod_metrics
        mine = next(m for m in metrics if m.pod_sandbox_id == pod)
        names = {m.name for m in mine.container_metrics[0].metrics}
        assert "container_memory_working_set_bytes" in names

        # Log rotation as kubelet does it: rename, then ReopenContainerLog; new lines go to a new file.
        log = os.path.join(logdir, "busy.log")
        _until(lambda: os.path.getsize(log) > 0, "log lines")
        os.rename(log, log + ".1")
        k.call("ReopenContainerLog", pb.ReopenContainerLogRequest(container_id=cid))
        _until(lambda: os.path.exists(log) and os.path.getsize(log) > 0, "the reopened log")
        with open(log + ".1") as old, open(log) as new:
            last_old = int(old.read().splitlines()[-1].split()[-1])
            first_new = int(new.read().splitlines()[0].split()[-1])
        assert first_new > last_old
    finally:
        k.stop_pod(pod)
        k.remove_pod(pod)
    with pytest.raises(grpc.RpcError) as e:
        k.call("ReopenContainerLog", pb.ReopenContainerLogRequest(container_id=cid))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_concurrent_pod_lifecycles(ketchd: Daemon, logdir: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def lifecycle(i: int) -> tuple[str, int]:
        with ketchd.client() as c:
            pcfg = c.pod_config(f"conc-{i}", log_dir=os.path.join(logdir, str(i)))
            pod = c.run_pod(pcfg)
            cid = c.create(pod, c.container_config("c", BUSYBOX, ["sh", "-c", f"echo {i}; sleep 600"]), pcfg)
            c.start(cid)
            ip = c.pod_status(pod).status.network.ip
            out = c.exec_sync(cid, ["hostname"]).stdout.decode().strip()
            c.stop(cid, 0)
            code = c.status(cid).exit_code
            c.remove(cid)
            c.stop_pod(pod)
            c.remove_pod(pod)
            assert out == f"conc-{i}"
            return ip, code

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lifecycle, range(24)))
    ips = [ip for ip, _ in results]
    assert all(ip.startswith("10.77.") for ip in ips)
    assert all(code == 137 for _, code in results)
    with ketchd.client() as c:
        assert not [p for p in c.pods() if p.metadata.name.startswith("conc-")]
