"""The pod lifecycle through the CRI, ketchd against containerd (Debian's, CRI plugin, runc), with the
same Python client (after a measurement of the pod namespaces pinned against a pause container):
RunPodSandbox, CreateContainer, StartContainer, StopContainer, RemoveContainer,
StopPodSandbox, RemovePodSandbox, N times; then memory (daemon idle, per running pod) and pods/s for
concurrent pod lifecycles.

    PYTHONPATH=src python bench/cri.py [N] [CONCURRENT]        (root; defaults 20 and 50)

Both daemons run on private directories under /tmp with their own bridge networks (a free /24 of 10.77.0.0/16). ketchd
runs twice: with runc as its handler (the ratio column: the same runtime under both CRI layers) and with
ketch-runtime. Prints medians in milliseconds per step.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ketch.cri.client import CriClient
from ketch.cri.harness import (
    BUSYBOX,
    Daemon,
    containerd_shims_rss_kib,
    free_network,
    remove_bridge,
    start_containerd,
    start_ketchd,
)
from ketch.testing import make_rootfs

STEPS = ["RunPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
         "StopPodSandbox", "RemovePodSandbox"]


def lifecycle(c: CriClient, name: str, logdir: str, times: dict[str, list[float]] | None = None) -> None:
    def step(label: str, fn: Any, *a: Any) -> Any:
        t = time.perf_counter()
        r = fn(*a)
        if times is not None:
            times[label].append((time.perf_counter() - t) * 1000)
        return r

    pcfg = c.pod_config(name, log_dir=os.path.join(logdir, name))
    pod = step("RunPodSandbox", c.run_pod, pcfg)
    cid = step("CreateContainer", c.create, pod, c.container_config("app", BUSYBOX, ["sleep", "3600"]), pcfg)
    step("StartContainer", c.start, cid)
    step("StopContainer", c.stop, cid, 0)
    step("RemoveContainer", c.remove, cid)
    step("StopPodSandbox", c.stop_pod, pod)
    step("RemovePodSandbox", c.remove_pod, pod)


def _monitors_rss_kib(d: Daemon) -> int:
    """Per-pod helpers: conmon (and pod pid holders) for ketchd, shims for containerd."""
    if d.name == "containerd":
        return containerd_shims_rss_kib(d.base)
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if argv[0].endswith(b"conmon") and any(d.base.encode() in a for a in argv):
                with open(f"/proc/{pid}/status") as f:
                    total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def memory(d: Daemon, pods: int, logdir: str) -> tuple[int, float]:
    c = d.client()
    idle = d.rss_kib()
    made = []
    for i in range(pods):
        pcfg = c.pod_config(f"mem-{i}", log_dir=os.path.join(logdir, f"mem-{i}"))
        pod = c.run_pod(pcfg)
        cid = c.create(pod, c.container_config("app", BUSYBOX, ["sleep", "3600"]), pcfg)
        c.start(cid)
        made.append(pod)
    loaded = d.rss_kib() + _monitors_rss_kib(d)
    for pod in made:
        c.stop_pod(pod)
        c.remove_pod(pod)
    c.close()
    return idle, (loaded - idle) / pods


def concurrent(d: Daemon, n: int, logdir: str) -> float:
    clients = [d.client() for _ in range(min(n, 16))]
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(lambda i: lifecycle(clients[i % len(clients)], f"conc-{i}", logdir), range(n)))
    elapsed = time.perf_counter() - t
    for c in clients:
        c.close()
    return n / elapsed


def rpc_rate(d: Daemon, calls: int) -> float:
    """Version calls per second from 4 client threads (the cost of the gRPC layer alone)."""
    from ketch.cri.client import pb

    clients = [d.client() for _ in range(4)]
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: clients[i % 4].runtime.Version(pb.VersionRequest()), range(calls)))
    elapsed = time.perf_counter() - t
    for c in clients:
        c.close()
    return calls / elapsed


def measure(d: Daemon, n: int, conc: int) -> dict[str, Any]:
    logdir = tempfile.mkdtemp(prefix="kcri-bench-logs-", dir="/tmp")
    try:
        c = d.client()
        lifecycle(c, "warmup", logdir)
        times: dict[str, list[float]] = {s: [] for s in STEPS}
        totals = []
        for i in range(n):
            before = {s: len(v) for s, v in times.items()}
            lifecycle(c, f"seq-{i}", logdir, times)
            totals.append(sum(times[s][before[s]] for s in STEPS))
        c.close()
        rpc = rpc_rate(d, 2000)
        idle, per_pod = memory(d, 10, logdir)
        rate = concurrent(d, conc, logdir)
        out: dict[str, Any] = {s: statistics.median(v) for s, v in times.items()}
        out["total"] = statistics.median(totals)
        out["idle_rss_mib"] = idle / 1024
        out["per_pod_kib"] = per_pod
        out["pods_per_s"] = rate
        out["version_rpc_per_s"] = rpc
        return out
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def pinned_vs_pause(rounds: int) -> None:
    """What a pod's namespaces cost: pinned by bind mounts (ketchd's way) against a pause container."""
    import asyncio
    import json
    import subprocess

    from ketch.cri import nsholder
    from ketch.testing import make_bundle

    base = tempfile.mkdtemp(prefix="kcri-bench-ns-", dir="/tmp")
    try:
        async def pin_once(i: int) -> None:
            paths = await nsholder.pin(os.path.join(base, f"ns{i}"), ["net", "ipc", "uts"])
            await nsholder.set_hostname(paths["uts"], f"pod{i}")
            nsholder.unpin(paths)

        pin = []
        for i in range(rounds):
            t = time.perf_counter()
            asyncio.run(pin_once(i))
            pin.append((time.perf_counter() - t) * 1000)
        bundle = os.path.join(base, "pause")
        make_bundle(bundle, ["sleep", "infinity"])
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        rows = [("pinned (unshare + hostname)", statistics.median(pin))]
        for runtime in ("runc", os.path.join(os.path.dirname(sys.executable), "ketch-runtime")):
            if not shutil.which(runtime):
                continue
            root = os.path.join(base, "root-" + os.path.basename(runtime))
            samples = []
            for i in range(rounds):
                cid = f"pause{i}"
                t = time.perf_counter()
                subprocess.run([runtime, "--root", root, "create", "--bundle", bundle, cid], check=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run([runtime, "--root", root, "start", cid], check=True)
                samples.append((time.perf_counter() - t) * 1000)
                subprocess.run([runtime, "--root", root, "delete", "--force", cid], check=True)
            rows.append((f"pause container ({os.path.basename(runtime)})", statistics.median(samples)))
        print(f"pod namespaces, {rounds} rounds (median ms to set up)")
        for label, ms in rows:
            print(f"  {label:<36}{ms:>8.1f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    pinned_vs_pause(n)
    results: dict[str, dict[str, Any]] = {}
    for name, start, args in (
        ("ketchd", start_ketchd, {}),
        ("ketchd+kr", start_ketchd, {"handler": "ketch"}),
        ("containerd", start_containerd, {}),
    ):
        if name == "containerd" and not shutil.which("containerd"):
            continue
        base = tempfile.mkdtemp(prefix=f"kcri-bench-{name[0]}-", dir="/tmp")
        args["bridge"], args["subnet"] = free_network()
        d = start(base, make_rootfs, **args)  # type: ignore[operator]
        try:
            results[name] = measure(d, n, conc)
        finally:
            d.stop()
            remove_bridge(str(args["bridge"]))
            shutil.rmtree(base, ignore_errors=True)
    k, kr, c = results.get("ketchd", {}), results.get("ketchd+kr", {}), results.get("containerd", {})
    print(f"pod lifecycle, {n} rounds (median ms), {conc} concurrent pods")
    print("ketchd: runc handler; ketchd+kr: ketch-runtime handler; ratio: ketchd (runc) / containerd")
    print(f"{'step':<24}{'ketchd':>10}{'ketchd+kr':>11}{'containerd':>12}{'ratio':>8}")
    rows = [(key, key) for key in [*STEPS, "total"]] + [
        ("idle_rss_mib", "daemon RSS idle (MiB)"), ("per_pod_kib", "per running pod (KiB)"),
        ("pods_per_s", "pods/s concurrent"), ("version_rpc_per_s", "Version RPCs/s")]
    for key, label in rows:
        kv, krv, cv = k.get(key), kr.get(key), c.get(key)
        ratio = f"{kv / cv:.2f}" if kv and cv else "-"
        print(f"{label:<24}{kv or 0:>10.1f}{krv or 0:>11.1f}{cv or 0:>12.1f}{ratio:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
