"""ketch's registry side by side with CNCF distribution (Debian's ``docker-registry``) on loopback.

Measures, for each registry, the median of several runs of:
- skopeo push and pull of a 5-layer image of ~100 MB (incompressible layers), each push into a fresh
  storage root and a repository named for the round, so nothing is deduplicated, mounted or cached; the
  rounds alternate between the two registries so a change in the machine's load weighs on both alike;
- manifest GET and blob HEAD request rates (wrk from Debian when installed, otherwise a concurrent aiohttp
  client; the same tool for both);
- GET throughput of one 50 MB blob (curl to /dev/null).

Prints a table with ketch / distribution ratios (>1 means ketch is faster). Both servers listen on
127.0.0.1 ports in 15000-15999; everything lives in a temporary directory removed at the end.

    PYTHONPATH=src .venv/bin/python bench/registry.py [--runs 3] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp

import ketch
from ketch.testing.net import free_port

SRC = str(Path(ketch.__file__).resolve().parents[1])
MANIFEST = "application/vnd.oci.image.manifest.v1+json"




def wait_up(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"registry on port {port} did not start")


class Server:
    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, root: Path) -> None:
        self.port = free_port(15500, 16000)
        if self.kind == "ketch":
            cfg = self.work / "ketch.toml"
            cfg.write_text("access_log = false\n")
            cmd = [
                sys.executable,
                "-m",
                "ketch.cli.registry",
                "serve",
                "--config",
                str(cfg),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--root",
                str(root),
                "--log-level",
                "warning",
            ]
            env = dict(os.environ, PYTHONPATH=SRC)
        else:
            cfg = self.work / "distribution.yml"
            cfg.write_text(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n"
            )
            cmd = ["docker-registry", "serve", str(cfg)]
            env = dict(os.environ)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(layout: Path, layers: int = 5, layer_mb: int = 20) -> None:
    """An OCI layout with ``layers`` uncompressed tar layers of random bytes (written directly)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        d = _sha(data)
        (blobs / d.split(":")[1]).write_bytes(data)
        return d

    descs, diff_ids = [], []
    for i in range(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            payload = os.urandom(layer_mb * 1024 * 1024)
            info = tarfile.TarInfo(f"layer{i}/data.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        data = buf.getvalue()
        d = put(data)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(data)})
        diff_ids.append(d)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    md = put(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": MANIFEST,
                        "digest": md,
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "v1"},
                    }
                ],
            }
        )
    )


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def request_rate(url: str, method: str, total: int, concurrency: int) -> float:
    conn = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Accept": MANIFEST}
    async with aiohttp.ClientSession(connector=conn) as session:
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.request(method, url, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{method} {url}: {r.status} {r.headers}")

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - t)


def wrk_rate(url: str, method: str, work: Path, seconds: int = 4) -> float:
    """Requests per second measured by wrk (one thread, 32 connections): far lighter than a Python client."""
    script = work / f"{method.lower()}.lua"
    script.write_text(f'wrk.method = "{method}"\nwrk.headers["Accept"] = "{MANIFEST}"\n')
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            if "Non-2xx" in out:
                raise RuntimeError(f"{method} {url}: non-2xx responses under load")
            return float(line.split()[1])
    raise RuntimeError(f"wrk printed no rate: {out}")


def blob_throughput(url: str) -> float:
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out) / 1e6


def push_pull_round(server: Server, work: Path, image: Path, i: int) -> tuple[float, float]:
    """One timed skopeo push then pull, into a fresh storage root and a repository named for the round."""
    kind = server.kind
    root = work / f"{kind}-root{i}"
    server.start(root)
    try:
        ref = f"docker://127.0.0.1:{server.port}/bench/img{i}:v1"
        push = timed(lambda: skopeo("copy", "--dest-tls-verify=false", f"oci:{image}:v1", ref))
        dest = work / f"{kind}-pull{i}"
        pull = timed(lambda: skopeo("copy", "--src-tls-verify=false", ref, f"oci:{dest}:v1"))
        shutil.rmtree(dest)
    finally:
        server.stop()
    return push, pull


def request_rates(
    server: Server, work: Path, root: Path, repo: str, runs: int, requests: int
) -> dict[str, float]:
    """Manifest GET and blob HEAD rates, and 50 MB blob GET throughput, on a store holding a pushed image."""
    server.start(root)
    try:
        base = f"http://127.0.0.1:{server.port}/v2/{repo}"
        req0 = urllib.request.Request(f"{base}/manifests/v1", headers={"Accept": MANIFEST})
        manifest = json.loads(urllib.request.urlopen(req0).read())  # as pushed (skopeo may have compressed)
        layer = manifest["layers"][0]["digest"]
        big = os.urandom(50 * 1024 * 1024)
        # POST then PUT: distribution 2.8 does not take a monolithic POST
        start = urllib.request.urlopen(
            urllib.request.Request(f"{base}/blobs/uploads/", data=b"", method="POST")
        )
        location = start.headers["Location"]
        if location.startswith("/"):
            location = f"http://127.0.0.1:{server.port}{location}"
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(
            f"{location}{sep}digest={_sha(big)}",
            data=big,
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(put).read()
        mrate = [asyncio.run(request_rate(f"{base}/manifests/v1", "GET", requests, 32)) for _ in range(runs)]
        hrate = [
            asyncio.run(request_rate(f"{base}/blobs/{layer}", "HEAD", requests, 32)) for _ in range(runs)
        ]
        tput = [blob_throughput(f"{base}/blobs/{_sha(big)}") for _ in range(max(runs, 5))]
    finally:
        server.stop()
    return {
        "manifest GET (req/s)": statistics.median(mrate),
        "blob HEAD (req/s)": statistics.median(hrate),
        "50MB blob GET (MB/s)": statistics.median(tput),
    }


def bench(work: Path, image: Path, runs: int, requests: int) -> dict[str, dict[str, float]]:
    """Push/pull rounds alternate between the registries (ketch first in even rounds, distribution first
    in odd ones), so a change in the machine's load during the benchmark weighs on both alike."""
    servers = {kind: Server(kind, work) for kind in ("ketch", "distribution")}
    push: dict[str, list[float]] = {kind: [] for kind in servers}
    pull: dict[str, list[float]] = {kind: [] for kind in servers}
    for i in range(runs):
        order = ("ketch", "distribution") if i % 2 == 0 else ("distribution", "ketch")
        for kind in order:
            t_push, t_pull = push_pull_round(servers[kind], work, image, i)
            push[kind].append(t_push)
            pull[kind].append(t_pull)
    results: dict[str, dict[str, float]] = {}
    for kind, server in servers.items():
        last = runs - 1
        results[kind] = {
            "push 5x20MB image (s)": statistics.median(push[kind]),
            "pull 5x20MB image (s)": statistics.median(pull[kind]),
            **request_rates(server, work, work / f"{kind}-root{last}", f"bench/img{last}", runs, requests),
        }
        for i in range(runs):
            shutil.rmtree(work / f"{kind}-root{i}", ignore_errors=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20000)
    args = ap.parse_args()
    for tool in ("skopeo", "docker-registry", "curl"):
        if shutil.which(tool) is None:
            sys.stderr.write(f"bench: {tool} is not installed\n")
            return 2
    with tempfile.TemporaryDirectory(prefix="ketch-bench-registry-") as tmp:
        work = Path(tmp)
        image = work / "image"
        make_image(image)
        load_before = os.getloadavg()
        results = bench(work, image, args.runs, args.requests)
        load_after = os.getloadavg()
    print(f"{'metric':<26} {'ketch':>12} {'distribution':>14} {'ratio':>8}")
    for metric in results["ketch"]:
        k, d = results["ketch"][metric], results["distribution"][metric]
        ratio = d / k if metric.endswith("(s)") else k / d
        print(f"{metric:<26} {k:>12.2f} {d:>14.2f} {ratio:>7.2f}x")
    print("ratio > 1: ketch is faster (medians of the runs)")
    print(
        "load average (1, 5, 15 min): "
        f"before {' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
