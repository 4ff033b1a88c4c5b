"""Pull and push of a 5-layer ~100 MB image from/to CNCF distribution (Debian's ``docker-registry``), ketch
side by side with skopeo; and pull-and-unpack, ketch (layers unpacked into overlay snapshots as they arrive)
against ``skopeo copy`` followed by ``umoci unpack``.

Every round uses a fresh repository on a registry whose storage was wiped, so neither tool can skip or mount
a blob (skopeo's blob-info cache remembers where blobs were seen and would turn pushes into mounts), and a
fresh destination (ketch root / OCI layout / bundle). Both tools run as processes, so both pay their start.

    PYTHONPATH=src /work/main/.venv/bin/python bench/pull_push.py [--rounds 5] [--layer-mb 20]

Prints per-operation medians and the ratio ketch/skopeo (below 1: ketch faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SRC)

from ketch.testing.net import free_port  # noqa: E402


class Distribution:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port(16900, 17000)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        data = self.work / "registry-data"
        shutil.rmtree(data, ignore_errors=True)
        config = self.work / "registry.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {data}\n"
            f"http:\n  addr: {self.domain}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(400):
            try:
                with urllib.request.urlopen(f"http://{self.domain}/v2/", timeout=1):
                    return
            except OSError:
                time.sleep(0.025)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def ketch(root: Path, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=SRC, KETCH_HOSTS_DIR="/nonexistent")
    # An installed ketch has its bytecode compiled; use the source tree's cached bytecode too (main() compiles
    # it first), or every run would compile ketch from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "ketch.cli.main", "--root", str(root), *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed(fn: Callable[..., None], *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def skopeo_umoci(ref: str, out: Path, bundle: Path) -> None:
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:v1")
    subprocess.run(["umoci", "unpack", "--image", f"{out}:v1", str(bundle)], check=True, capture_output=True)


def build_image(root: Path, layer_mb: int, name: str) -> None:
    from ketch.image.build import layer_from_tar_writer, new_config, write_image
    from ketch.image.layer.generate import tar_directory
    from ketch.image.store import ImageStore
    from ketch.spec.image import ContainerConfig
    from ketch.testing import make_rootfs

    store = ImageStore(str(root), durable=False)
    descs, diff_ids = [], []
    with store.lease(), tempfile.TemporaryDirectory() as tmp:
        base = make_rootfs(os.path.join(tmp, "base"))
        dirs = [base]
        for i in range(4):
            d = os.path.join(tmp, f"layer{i}")
            os.makedirs(d)
            with open(os.path.join(d, f"data{i}.bin"), "wb") as f:
                f.write(os.urandom(layer_mb << 20))
            dirs.append(d)
        # the base layer gets random data too, so the five layers are about the same size
        with open(os.path.join(base, "data-base.bin"), "wb") as f:
            f.write(os.urandom(layer_mb << 20))
        for d in dirs:
            desc, diff_id = layer_from_tar_writer(store, lambda out, d=d: tar_directory(d, out))
            descs.append(desc)
            diff_ids.append(diff_id)
        config = new_config(diff_ids, ContainerConfig(cmd=["sh"]))
        write_image(store, config, descs, name=name)
    size = sum(d.size for d in descs)
    print(f"image: {len(descs)} layers, {size / 1e6:.1f} MB compressed")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--layer-mb", type=int, default=20)
    a = p.parse_args()
    for tool in ("docker-registry", "skopeo", "umoci"):
        if shutil.which(tool) is None:
            print(f"needs {tool}")
            return 1
    unpack = os.geteuid() == 0
    work = Path(tempfile.mkdtemp(prefix="ketch-bench-pull-push."))
    reg = Distribution(work)
    results: dict[str, dict[str, list[float]]] = {}

    def record(op: str, tool: str, seconds: float) -> None:
        results.setdefault(op, {}).setdefault(tool, []).append(seconds)

    try:
        src_root = work / "src"
        build_image(src_root, a.layer_mb, "bench/image:v1")
        layout = work / "layout"
        ketch(
            src_root,
            "image",
            "export",
            "--format",
            "oci",
            "--ref-names",
            "tag",
            "-o",
            str(layout),
            "bench/image:v1",
        )
        # compile ketch's bytecode once, as installing it would
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", os.path.join(SRC, "ketch")], check=True, env=env
        )
        print(f"interpreter: {sys.executable}; rounds: {a.rounds}")
        print(
            "each round: registry storage wiped, fresh repository names, fresh destinations (no skips, no mounts)"
        )
        for i in range(a.rounds):
            reg.restart()
            # push: ketch from its store, skopeo from an OCI layout of the same image
            record(
                "push",
                "ketch",
                timed(ketch, src_root, "push", "-q", "bench/image:v1", f"{reg.domain}/k/push{i}:v1"),
            )
            dest = f"docker://{reg.domain}/s/push{i}:v1"
            record(
                "push",
                "skopeo",
                timed(skopeo, "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:v1", dest),
            )
            ref = f"{reg.domain}/k/push{i}:v1"
            dst = work / f"pull-k{i}"
            record("pull", "ketch", timed(ketch, dst, "pull", "-q", "--no-unpack", ref))
            out = work / f"pull-s{i}"
            record(
                "pull",
                "skopeo",
                timed(skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:v1"),
            )
            shutil.rmtree(dst, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
            if unpack:
                dst = work / f"unpack-k{i}"
                record("pull+unpack", "ketch", timed(ketch, dst, "pull", "-q", ref))
                out = work / f"unpack-s{i}"
                bundle = work / f"bundle-s{i}"
                record("pull+unpack", "skopeo+umoci", timed(skopeo_umoci, ref, out, bundle))
                shutil.rmtree(dst, ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(bundle, ignore_errors=True)
        print(f"{'operation':<12} {'ketch (s)':>10} {'peer (s)':>10} {'ratio':>7}  peer")
        for op, tools in results.items():
            k = statistics.median(tools["ketch"])
            peer_name = next(t for t in tools if t != "ketch")
            s = statistics.median(tools[peer_name])
            print(f"{op:<12} {k:>10.3f} {s:>10.3f} {k / s:>7.2f}  {peer_name}")
        if not unpack:
            print("pull+unpack skipped: needs root (overlay snapshots, umoci as root)")
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
