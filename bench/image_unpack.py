"""Unpacking images: ``ketch image unpack`` vs ``umoci unpack``, side by side.

Two images: a one-layer busybox (made with umoci from Debian's busybox-static) and a six-layer Debian image
(~190 MB; ``debootstrap --variant=minbase bookworm`` split into layers that add, change, delete, whiteout and
recreate files, built as tests/integration/image/debian_image.py does). Both tools read the same image and
write a runtime bundle. Rounds are interleaved (ketch, umoci, ketch, umoci, ...) so drift on the machine hits
both alike; each run is a fresh process, so interpreter start-up counts against ketch as it would for a user.
The Debian image is unpacked on disk and on a tmpfs (store, layout and bundle all on that filesystem). Prints
medians and ratios, where ketch's time goes (read + verify + decompress + DiffID hash, tar parsing, writing
the tree), and the time to prepare and mount an overlay root filesystem from layers already unpacked.

    sudo /work/main/.venv/bin/python bench/image_unpack.py [--rounds N] [--debian-rounds N]
        [--debian-tree DIR (an existing debootstrap minbase tree)] [--no-debian]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, SRC)

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration", "image"))

from debian_image import build_debian_image, debootstrap  # noqa: E402

from ketch.image.archive import import_path  # noqa: E402
from ketch.image.layout import export_layout  # noqa: E402
from ketch.image.resolve import load_image  # noqa: E402
from ketch.image.snapshot import OverlaySnapshotter  # noqa: E402
from ketch.image.store import ImageStore  # noqa: E402
from ketch.linux.mount import mount  # noqa: E402
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


def env_for_ketch() -> dict[str, str]:
    # As installed: byte-compiled modules (the first, warm-up run writes them).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = SRC
    return env


def side_by_side(
    ketch_cmd: list[str], umoci_cmd: list[str], where: str, rounds: int, env: dict[str, str]
) -> tuple[float, float]:
    """Interleaved runs of both commands (each gets its destination appended); medians in seconds."""
    run([*ketch_cmd, os.path.join(where, "warm-up")], env)
    shutil.rmtree(os.path.join(where, "warm-up"))
    times: dict[str, list[float]] = {"ketch": [], "umoci": []}
    for i in range(rounds):
        for tool, cmd in (("ketch", ketch_cmd), ("umoci", umoci_cmd)):
            dest = os.path.join(where, f"{tool}-{i}")
            times[tool].append(run([*cmd, dest], env if tool == "ketch" else None))
            shutil.rmtree(dest)
    return statistics.median(times["ketch"]), statistics.median(times["umoci"])


def report(title: str, k: float, u: float) -> None:
    print(title)
    print(f"  ketch image unpack  median {k * 1000:8.1f} ms")
    print(f"  umoci unpack        median {u * 1000:8.1f} ms")
    print(f"  ratio ketch/umoci   {k / u:.2f}")


def overlay_prepare(kroot: str, name: str, work: str, rounds: int) -> float:
    """Median time to prepare (upper/work/meta) and mount an overlay root from layers already unpacked."""
    store = ImageStore(kroot)
    image = load_image(store.content, store.get(name).target)
    snap = OverlaySnapshotter(kroot)
    snap.prepare("warm", store.content, image)  # unpacks the layers once
    snap.remove("warm")
    target = os.path.join(work, "mnt")
    os.makedirs(target, exist_ok=True)
    prep: list[float] = []
    for i in range(rounds):
        start = time.perf_counter()
        snap.prepare(f"c{i}", store.content, image)
        snap.mount(f"c{i}", target)
        prep.append(time.perf_counter() - start)
        umount(target)
        snap.remove(f"c{i}")
    return statistics.median(prep)


def busybox(work: str, rounds: int) -> None:
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
    ketch_cmd = [python(), "-m", "ketch.cli.main", "--root", kroot, "image", "unpack", "bench/busybox:bb"]
    umoci_cmd = ["umoci", "unpack", "--image", f"{layout}:bb"]
    k, u = side_by_side(ketch_cmd, umoci_cmd, work, rounds, env_for_ketch())
    report(f"unpack 1-layer busybox ({rounds} interleaved rounds, fresh process each)", k, u)

    # The same work in-process (no interpreter start-up, no imports): what a daemon would pay.
    from ketch.image.bundle import unpack_bundle

    image = load_image(store.content, store.get("bench/busybox:bb").target)
    lib: list[float] = []
    for i in range(rounds):
        dest = os.path.join(work, f"lib-{i}")
        start = time.perf_counter()
        unpack_bundle(store.content, image, dest)
        lib.append(time.perf_counter() - start)
        shutil.rmtree(dest)
    print(f"  ketch in-process    median {statistics.median(lib) * 1000:8.1f} ms (library call, no start-up)")
    print(f"  ratio in-process/umoci {statistics.median(lib) / u:.2f}")
    prep = overlay_prepare(kroot, "bench/busybox:bb", work, rounds)
    print(f"  overlay rootfs (prepare + mount) median {prep * 1000:.2f} ms")


def breakdown(kroot: str, name: str, work: str, rounds: int) -> None:
    """Where ketch's time goes for one image, in-process: each stage adds one step to the previous one."""
    from ketch._common.digest import VerifyingReader
    from ketch.image.bundle import unpack_bundle
    from ketch.image.layer.compression import HashingReader, decompressor
    from ketch.spec.image import LAYER_MEDIA_TYPES

    store = ImageStore(kroot)
    image = load_image(store.content, store.get(name).target)

    def read_only() -> None:
        for layer, _diff in image.layers:
            with store.content.open(layer.digest) as raw:
                plain = decompressor(
                    VerifyingReader(raw, layer.digest, layer.size),  # type: ignore[arg-type]
                    LAYER_MEDIA_TYPES[layer.media_type],
                    "layer",
                )
                HashingReader(plain).drain()

    def parse_only() -> None:
        for layer, _diff in image.layers:
            with store.content.open(layer.digest) as raw:
                plain = decompressor(
                    VerifyingReader(raw, layer.digest, layer.size),  # type: ignore[arg-type]
                    LAYER_MEDIA_TYPES[layer.media_type],
                    "layer",
                )
                with tarfile.open(fileobj=HashingReader(plain), mode="r|") as tar:  # type: ignore[call-overload]
                    for m in tar:
                        if m.isreg():
                            f = tar.extractfile(m)
                            while f is not None and f.read(1 << 20):
                                pass

    stages: dict[str, list[float]] = {"read": [], "parse": [], "unpack": []}
    for i in range(rounds):
        for label, fn in (("read", read_only), ("parse", parse_only)):
            start = time.perf_counter()
            fn()
            stages[label].append(time.perf_counter() - start)
        dest = os.path.join(work, f"breakdown-{i}")
        start = time.perf_counter()
        unpack_bundle(store.content, image, dest)
        stages["unpack"].append(time.perf_counter() - start)
        shutil.rmtree(dest)
    r, p, u = (statistics.median(stages[k]) for k in ("read", "parse", "unpack"))
    print(f"  in-process, one stage after another: read+verify+decompress+hash {r * 1000:.0f} ms,")
    print(f"    the same + tar parsing (stdlib tarfile, stream mode) {p * 1000:.0f} ms")
    print(f"  in-process, whole unpack (decompression in its own thread) {u * 1000:.0f} ms")


def debian(work: str, tree: str | None, rounds: int) -> None:
    if tree is None:
        tree = os.path.join(work, "debootstrap")
        why = debootstrap(tree)
        if why is not None:
            print(f"Debian image skipped: {why}")
            return
    disk = os.path.join(work, "disk")
    os.mkdir(disk)
    store = ImageStore(os.path.join(disk, "ketch"))
    build_debian_image(store, tree, os.path.join(work, "build"), "bench/debian:six")
    shutil.rmtree(os.path.join(work, "build"))
    export_layout(store, ["bench/debian:six"], os.path.join(disk, "layout"), ref_names="tag")
    image = load_image(store.content, store.get("bench/debian:six").target)
    size = sum(layer.size for layer, _ in image.layers)
    tmpfs = os.path.join(work, "tmpfs")
    os.mkdir(tmpfs)
    mount("tmpfs", tmpfs, "tmpfs", 0, "size=8g,mode=0755")
    try:
        subprocess.run(
            ["cp", "-a", os.path.join(disk, "ketch"), os.path.join(disk, "layout"), tmpfs], check=True
        )
        for label, where in (("disk", disk), ("tmpfs", tmpfs)):
            kroot, layout = os.path.join(where, "ketch"), os.path.join(where, "layout")
            ketch_cmd = [
                python(),
                "-m",
                "ketch.cli.main",
                "--root",
                kroot,
                "image",
                "unpack",
                "bench/debian:six",
            ]
            umoci_cmd = ["umoci", "unpack", "--image", f"{layout}:six"]
            k, u = side_by_side(ketch_cmd, umoci_cmd, where, rounds, env_for_ketch())
            report(
                f"unpack 6-layer Debian ({size / 1e6:.0f} MB compressed) on {label} "
                f"({rounds} interleaved rounds, fresh process each)",
                k,
                u,
            )
            breakdown(kroot, "bench/debian:six", where, rounds)
            prep = overlay_prepare(kroot, "bench/debian:six", where, max(rounds, 5))
            print(f"  overlay rootfs of the 6 layers (prepare + mount) median {prep * 1000:.2f} ms")
    finally:
        umount(tmpfs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--debian-rounds", type=int, default=5)
    p.add_argument("--debian-tree", help="an existing debootstrap --variant=minbase bookworm tree")
    p.add_argument("--no-debian", action="store_true")
    p.add_argument("--no-busybox", action="store_true")
    args = p.parse_args()
    if os.geteuid() != 0 or shutil.which("umoci") is None:
        sys.stderr.write("needs root and umoci\n")
        return 2
    work = tempfile.mkdtemp(prefix="ketch-bench-", dir="/var/tmp")
    try:
        if not args.no_busybox:
            busybox(work, args.rounds)
        if not args.no_debian:
            debian(work, args.debian_tree, args.debian_rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
