"""ketch-runtime vs runc vs crun: `run` of a /bin/true bundle, and create + start + delete, side by side.

Interleaved rounds (each round runs every runtime once, in rotating order), medians, ratios, and peak RSS of
the runtime process. Public tools only; run as root:

    .venv/bin/python bench/runtime_run.py [--rounds 30] [--seccomp] [--limits]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from ketch.testing import make_bundle
from ketch.testing.peers import ensure_crun_hugetlb, ketch_tool


def peak_rss(argv: list[str]) -> float:
    """Peak RSS (KiB) of one command, measured by /usr/bin/time: a child forked from this interpreter would
    start its high-water mark at our size, so the measuring parent must be small."""
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True)
    return float(out.stderr.strip().splitlines()[-1])


def timed(argv: list[str]) -> tuple[float, float, int]:
    """(wall ms, cpu ms, ru_maxrss) of one command."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        start = time.perf_counter()
        pid = os.posix_spawn(
            argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        )
        _, status, usage = os.wait4(pid, 0)
        wall = (time.perf_counter() - start) * 1000
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed (status {os.waitstatus_to_exitcode(status)})")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seccomp", action="store_true", help="with the RuntimeDefault seccomp profile")
    parser.add_argument("--limits", action="store_true", help="with memory, cpu and pids limits")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    runtimes = {"ketch": ketch_tool("ketch-runtime")}
    for name in ("runc", "crun"):
        if shutil.which(name):
            runtimes[name] = shutil.which(name)  # type: ignore[assignment]
    if "crun" in runtimes:
        ensure_crun_hugetlb()
    work = tempfile.mkdtemp(prefix="ketch-bench-")
    try:
        bundle = make_bundle(os.path.join(work, "bundle"), ["/bin/true"])
        cfg_path = os.path.join(bundle, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        if args.seccomp:
            from ketch.runtime.seccomp import runtime_default_profile

            cfg["linux"]["seccomp"] = runtime_default_profile(cfg["process"]["capabilities"]["bounding"])
        if args.limits:
            cfg["linux"]["resources"].update(
                memory={"limit": 256 << 20}, cpu={"quota": 50000, "period": 100000}, pids={"limit": 100}
            )
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        results: dict[str, dict[str, list[float]]] = {
            n: {"run": [], "cpu": [], "cs+d": [], "rss": [], "exec": []} for n in runtimes
        }
        sleeper = make_bundle(os.path.join(work, "sleeper"), ["sleep", "3600"], rootfs=os.path.join(bundle, "rootfs"))
        for name, binary in runtimes.items():
            timed([binary, "--root", os.path.join(work, f"state-{name}"), "run", "--detach", "--bundle", sleeper, "sleeper"])
        names = list(runtimes)
        for r in range(args.rounds + 2):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                binary = runtimes[name]
                root = os.path.join(work, f"state-{name}")
                cid = f"b{r}"
                wall, cpu, _ = timed([binary, "--root", root, "run", "--bundle", bundle, cid])
                exec_wall, _, _ = timed([binary, "--root", root, "exec", "sleeper", "/bin/true"])
                t0 = time.perf_counter()
                timed([binary, "--root", root, "create", "--bundle", bundle, cid + "c"])
                timed([binary, "--root", root, "start", cid + "c"])
                deadline = time.time() + 5
                while time.time() < deadline:
                    out = subprocess.run([binary, "--root", root, "state", cid + "c"], capture_output=True, text=True)
                    if '"stopped"' in out.stdout:
                        break
                timed([binary, "--root", root, "delete", cid + "c"])
                if r >= 2:  # two warm-up rounds
                    results[name]["exec"].append(exec_wall)
                    results[name]["rss"].append(peak_rss([binary, "--root", root, "run", "--bundle", bundle, cid + "m"]))
                    results[name]["run"].append(wall)
                    results[name]["cpu"].append(cpu)
                    results[name]["cs+d"].append((time.perf_counter() - t0) * 1000)
        label = "run /bin/true" + (" + RuntimeDefault seccomp" if args.seccomp else "") + (" + limits" if args.limits else "")
        print(f"{label}: medians over {args.rounds} interleaved rounds")
        print(f"{'runtime':8s} {'run ms':>8s} {'cpu ms':>8s} {'create+start+delete ms':>24s} {'exec ms':>8s} {'peak RSS KiB':>13s}")
        med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in results.items()}
        for name in names:
            m = med[name]
            print(f"{name:8s} {m['run']:8.1f} {m['cpu']:8.1f} {m['cs+d']:24.1f} {m['exec']:8.1f} {m['rss']:13.0f}")
        for peer in names[1:]:
            print(
                f"ratio ketch/{peer}: run {med['ketch']['run'] / med[peer]['run']:.2f}, "
                f"create+start+delete {med['ketch']['cs+d'] / med[peer]['cs+d']:.2f}, "
                f"exec {med['ketch']['exec'] / med[peer]['exec']:.2f}, "
                f"rss {med['ketch']['rss'] / med[peer]['rss']:.2f}"
            )
    finally:
        for name, binary in runtimes.items():  # the sleepers and anything a failure left behind
            root = os.path.join(work, f"state-{name}")
            if os.path.isdir(root):
                for cid in os.listdir(root):
                    subprocess.run([binary, "--root", root, "delete", "--force", cid], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
