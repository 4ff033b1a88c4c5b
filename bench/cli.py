"""``ketch run --rm IMAGE /bin/true`` vs ``podman run --rm`` vs ``ctr run --rm``, side by side.

The same one-layer busybox image (``ketch.testing.make_rootfs``) is imported into ketch, exported as an
oci-archive, loaded into podman (``podman load``; crun, cgroupfs, its own --root/--runroot) and into a
containerd of our own (``ctr image import``; own --root/--state/--address). Every tool runs without a
network (ketch and podman ``--network none``; ctr gives an empty network namespace by default). Interleaved
rounds (each round runs every tool once, in rotating order), medians and ratios. Run as root:

    .venv/bin/python bench/cli.py [--rounds 15] [--no-peers]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, SRC)

from ketch.cli.launcher import install_all  # noqa: E402
from ketch.testing import make_rootfs  # noqa: E402


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return wall


def check(argv: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-peers", action="store_true", help="only ketch (with each runtime)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    base = tempfile.mkdtemp(prefix="kbench-", dir="/tmp")
    containerd: subprocess.Popen[bytes] | None = None
    counter = iter(range(1_000_000))  # ctr needs a fresh container id per run
    try:
        os.mkdir(os.path.join(base, "bin"))
        install_all(os.path.join(base, "bin"), sys.executable)  # ketch and ketch-runtime as setup.sh installs them
        runtime = os.path.join(base, "bin", "ketch-runtime")
        config = os.path.join(base, "ketch.toml")
        with open(config, "w") as f:
            f.write(f'[storage]\nroot = "{base}/ketch"\nrun_root = "{base}/ketch-run"\n'
                    f'[runtime.paths]\n"ketch-runtime" = "{runtime}"\n')  # fmt: skip
        env = dict(os.environ, PYTHONPATH=SRC, KETCH_CONFIG=config)
        # ketch as installed: bytecode compiled ahead (a run should never compile)
        subprocess.run([sys.executable, "-m", "compileall", "-q", SRC], check=True, stdout=subprocess.DEVNULL)
        ketch = [os.path.join(base, "bin", "ketch")]
        rootfs = os.path.join(base, "rootfs")
        make_rootfs(rootfs)
        check([*ketch, "image", "import", "--rootfs", rootfs, "--name", "benchbox"], env)
        archive = os.path.join(base, "benchbox.tar")
        check([*ketch, "image", "export", "benchbox", "-o", archive, "--format", "oci-archive"], env)

        tools: dict[str, list[str]] = {
            "ketch (ketch-runtime)": [*ketch, "run", "--rm", "--network", "none", "benchbox", "/bin/true"],
            "ketch (crun)": [*ketch, "run", "--rm", "--network", "none", "--runtime", "crun", "benchbox", "/bin/true"],
        }
        if not args.no_peers and shutil.which("podman"):
            podman = ["podman", "--root", f"{base}/podman", "--runroot", f"{base}/podman-run",
                      "--cgroup-manager", "cgroupfs", "--runtime", "crun", "--events-backend", "file"]  # fmt: skip
            check([*podman, "load", "-i", archive])
            tools["podman run (crun)"] = [*podman, "run", "--rm", "--network", "none",
                                          "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
                                          "docker.io/library/benchbox:latest", "/bin/true"]  # fmt: skip
        if not args.no_peers and shutil.which("containerd") and shutil.which("ctr"):
            sock = f"{base}/containerd.sock"
            cfg = f"{base}/containerd.toml"
            with open(cfg, "w") as f:
                f.write('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_apparmor = true\n'
                        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n')  # fmt: skip
            containerd = subprocess.Popen(
                ["containerd", "--config", cfg, "--root", f"{base}/containerd", "--state", f"{base}/containerd-state",
                 "--address", sock],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.1)
            ctr = ["ctr", "--address", sock, "--namespace", "bench"]
            check([*ctr, "image", "import", archive])
            tools["ctr run (runc)"] = [*ctr, "run", "--rm", "docker.io/library/benchbox:latest", "@ID@", "/bin/true"]
        # warm-up: caches, bytecode, first-use set-up (networks, layers)
        results: dict[str, list[float]] = {name: [] for name in tools}
        order = list(tools)
        for rnd in range(args.rounds + 1):
            for name in order[rnd % len(order) :] + order[: rnd % len(order)]:
                argv = [a.replace("@ID@", f"b{next(counter)}") if a == "@ID@" else a for a in tools[name]] \
                    if "ctr" in name else tools[name]  # fmt: skip
                wall = timed(argv, env if name.startswith("ketch") else None)
                if rnd:
                    results[name].append(wall)
        base_median = statistics.median(results[order[0]])
        print(f"{'':24} {'median':>9} {'min':>9} {'max':>9}   ratio to ketch (ketch-runtime)  [{args.rounds} rounds]")
        for name in order:
            xs = results[name]
            med = statistics.median(xs)
            print(f"{name:24} {med:8.1f}ms {min(xs):8.1f}ms {max(xs):8.1f}ms   {med / base_median:.2f}")
    finally:
        if containerd is not None:
            containerd.terminate()
            containerd.wait(10)
        subprocess.run(["umount", "-R", f"{base}/ketch-run/netns"], capture_output=True)
        for d in ("podman", "containerd"):
            subprocess.run(["umount", "-R", f"{base}/{d}"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
