"""Unpacking a one-layer busybox image: ``ketch image unpack`` vs ``umoci unpack``, side by side.

Both tools read the same image (made with umoci from Debian's busybox-static) and write a runtime bundle.
Rounds are interleaved (ketch, umoci, ketch, umoci, ...) so drift on the machine hits both alike; each run
is a fresh process, so interpreter start-up counts against ketch as it would for a user. Prints medians and
the ratio, then the time to prepare and mount an overlay root filesystem from layers already unpacked.

    sudo /work/main/.venv/bin/python bench/image_unpack.py [--rounds N]
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

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, SRC)

from ketch.image.archive import import_path  # noqa: E402
from ketch.image.resolve import load_image  # noqa: E402
from ketch.image.snapshot import OverlaySnapshotter  # noqa: E402
from ketch.image.store import ImageStore  # noqa: E402
from ketch.linux.mount import umount2 as umount  # noqa: E402
from ketch.testing import make_rootfs  # noqa: E402


def python() -> str:
    """The real interpreter binary (not a shim on PATH)."""
    venv = "/work/main/.venv/bin/python"
    return venv if os.path.exists(venv) else sys.executable


def run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    if os.geteuid() != 0 or shutil.which("umoci") is None:
        sys.stderr.write("needs root and umoci\n")
        return 2
    work = tempfile.mkdtemp(prefix="ketch-bench-")
    try:
        rootfs = make_rootfs(os.path.join(work, "rootfs"))
        layout = os.path.join(work, "layout")
        subprocess.run(["umoci", "init", "--layout", layout], check=True)
        subprocess.run(["umoci", "new", "--image", f"{layout}:bb"], check=True)
        subprocess.run(
            ["umoci", "insert", "--image", f"{layout}:bb", rootfs, "/"], check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run(["umoci", "config", "--image", f"{layout}:bb", "--config.cmd", "sh"], check=True)
        kroot = os.path.join(work, "ketch")
        store = ImageStore(kroot)
        import_path(store, layout, "bench/busybox")
        # As installed: byte-compiled modules (the first, warm-up run below writes them).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = SRC
        ketch_cmd = [python(), "-m", "ketch.cli.main", "--root", kroot, "image", "unpack", "bench/busybox:bb"]
        run([*ketch_cmd, os.path.join(work, "warm-up")], env)
        times: dict[str, list[float]] = {"ketch": [], "umoci": []}
        for i in range(args.rounds):
            for tool in ("ketch", "umoci"):
                dest = os.path.join(work, f"{tool}-{i}")
                if tool == "ketch":
                    times[tool].append(run([*ketch_cmd, dest], env))
                else:
                    times[tool].append(run(["umoci", "unpack", "--image", f"{layout}:bb", dest]))
                shutil.rmtree(dest)
        k, u = statistics.median(times["ketch"]), statistics.median(times["umoci"])
        print(f"unpack 1-layer busybox ({args.rounds} interleaved rounds, fresh process each)")
        print(f"  ketch image unpack  median {k * 1000:8.1f} ms")
        print(f"  umoci unpack        median {u * 1000:8.1f} ms")
        print(f"  ratio ketch/umoci   {k / u:.2f}")

        # The same work in-process (no interpreter start-up, no imports): what a daemon would pay.
        from ketch.image.bundle import unpack_bundle

        image = load_image(store.content, store.get("bench/busybox:bb").target)
        lib: list[float] = []
        for i in range(args.rounds):
            dest = os.path.join(work, f"lib-{i}")
            start = time.perf_counter()
            unpack_bundle(store.content, image, dest)
            lib.append(time.perf_counter() - start)
            shutil.rmtree(dest)
        print(
            f"  ketch in-process    median {statistics.median(lib) * 1000:8.1f} ms (library call, no start-up)"
        )
        print(f"  ratio in-process/umoci {statistics.median(lib) / u:.2f}")

        # Overlay root filesystem from layers already unpacked: prepare (upper/work/meta) + mount + umount.
        snap = OverlaySnapshotter(kroot)
        snap.prepare("warm", store.content, image)  # unpacks the layer once
        snap.remove("warm")
        target = os.path.join(work, "mnt")
        os.mkdir(target)
        prep: list[float] = []
        for i in range(args.rounds):
            start = time.perf_counter()
            snap.prepare(f"c{i}", store.content, image)
            snap.mount(f"c{i}", target)
            prep.append(time.perf_counter() - start)
            umount(target)
            snap.remove(f"c{i}")
        print(f"  overlay rootfs (prepare + mount) median {statistics.median(prep) * 1000:.2f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
