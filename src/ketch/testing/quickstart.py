"""The README's first command: a container from an image, end to end, offline.

1. build a busybox image from Debian's busybox-static (``ketch image import --rootfs``)
2. start ``ketch registry serve`` on 127.0.0.1 and push the image to it (``ketch push``)
3. forget the local image, pull it back (``ketch pull``)
4. unpack it into a runtime bundle (``ketch image unpack``) and run it with ``ketch-runtime run``
5. run it with ``ketch run``, the user's command line
6. run it as a pod through ketchd, the CRI server, with a CRI client (what kubelet does)

Every step prints what it did and how long it took. All state lives in a temporary directory removed at the
end, so the quickstart can run again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from ketch.testing.busybox import make_rootfs
from ketch.testing.net import free_port

_T0 = time.perf_counter()


def _tool(name: str) -> str:
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else (shutil.which(name) or name)


def _step(title: str, argv: list[str] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    sys.stdout.write(f"==> {title}\n")
    if argv is not None:
        sys.stdout.write("    $ " + " ".join(argv) + "\n")
    sys.stdout.flush()
    start = time.perf_counter()
    proc = subprocess.run(argv, text=True, capture_output=True, **kw) if argv is not None else None  # type: ignore[call-overload]
    took = (time.perf_counter() - start) * 1000
    if proc is not None:
        for line in (proc.stdout + proc.stderr).splitlines():
            sys.stdout.write(f"    | {line}\n")
        if proc.returncode != 0:
            raise SystemExit(f"quickstart: step failed with status {proc.returncode}")
    sys.stdout.write(f"    ({took:.0f} ms)\n")
    return proc  # type: ignore[return-value]




def _pod(work: str, ref: str, images: str) -> None:
    """ketchd on private directories, a pod with one container, its CRI log; everything removed after."""
    from ketch.cri.client import CriClient, pb

    sys.stdout.write("==> starting ketchd (the CRI server) and running the image as a pod\n")
    start = time.perf_counter()
    base = os.path.join(work, "ketchd")
    os.makedirs(base)
    config = os.path.join(base, "ketchd.toml")
    with open(config, "w") as f:
        f.write(f'[image]\nroot = "{images}"\n')
    sock = os.path.join(base, "ketchd.sock")
    daemon = subprocess.Popen(
        [_tool("ketchd"), "--listen", f"unix://{sock}", "--root", os.path.join(base, "root"),
         "--state", os.path.join(base, "state"), "--config", config],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock):
            if time.time() > deadline or daemon.poll() is not None:
                raise SystemExit("quickstart: ketchd did not start")
            time.sleep(0.05)
        client = CriClient(f"unix://{sock}")
        logs = os.path.join(base, "logs")
        pod_cfg = client.pod_config("quickstart", log_dir=logs)
        pod_cfg.linux.security_context.namespace_options.network = pb.NODE  # no CNI needed for the demo
        pod = client.run_pod(pod_cfg)
        cfg = client.container_config("hello", ref, ["sh", "-c", "echo hello from a ketchd pod; hostname"])
        cid = client.create(pod, cfg, pod_cfg)
        client.start(cid)
        while client.status(cid).state != pb.CONTAINER_EXITED and time.time() < deadline:
            time.sleep(0.05)
        with open(os.path.join(logs, "hello.log")) as f:
            for line in f.read().splitlines():
                sys.stdout.write(f"    | {line}\n")  # CRI log format: time, stream, P|F, message
        client.remove(cid)
        client.stop_pod(pod)
        client.remove_pod(pod)
        client.close()
    finally:
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
    sys.stdout.write(f"    ({(time.perf_counter() - start) * 1000:.0f} ms)\n")


def main() -> int:
    ketch, runtime = _tool("ketch"), _tool("ketch-runtime")
    work = tempfile.mkdtemp(prefix="ketch-quickstart-")
    store = ["--root", os.path.join(work, "images")]
    registry: subprocess.Popen[bytes] | None = None
    state = os.path.join(work, "runtime")
    try:
        sys.stdout.write("==> building a busybox root filesystem offline (Debian's busybox-static)\n")
        rootfs = make_rootfs(os.path.join(work, "rootfs"))
        _step("importing it as an image", [ketch, *store, "image", "import", "--rootfs", "--name", "demo/hello:1", rootfs])
        port = free_port()
        ref = f"127.0.0.1:{port}/demo/hello:1"
        sys.stdout.write(f"==> starting ketch registry serve on 127.0.0.1:{port}\n")
        registry = subprocess.Popen(
            [ketch, "registry", "serve", "--addr", f"127.0.0.1:{port}", "--root", os.path.join(work, "registry")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or registry.poll() is not None:
                    raise SystemExit("quickstart: the registry did not start") from None
                time.sleep(0.1)
        _step("pushing the image to it", [ketch, *store, "push", "-q", "demo/hello:1", ref])
        _step("removing the local copy", [ketch, *store, "rmi", "demo/hello:1"])
        _step("pulling it back", [ketch, *store, "pull", "-q", ref])
        bundle = os.path.join(work, "bundle")
        script = "echo hello from a ketch container; echo hostname: $(hostname); echo pid: $$; id"
        _step("unpacking it into a runtime bundle", [ketch, *store, "image", "unpack", ref, bundle, "sh", "-c", script])
        _step("running it with ketch-runtime", [runtime, "--root", state, "run", "--bundle", bundle, "ketch-quickstart"])
        _step(
            "running it with ketch run",
            [ketch, *store, "run", "--rm", "--network", "none", ref, "sh", "-c", "echo hello from ketch run"],
        )
        _pod(work, ref, os.path.join(work, "images"))
        sys.stdout.write(f"quickstart: ok ({(time.perf_counter() - _T0):.1f} s in all)\n")
        return 0
    finally:
        if registry is not None:
            registry.terminate()
            try:
                registry.wait(10)
            except subprocess.TimeoutExpired:
                registry.kill()
        subprocess.run([runtime, "--root", state, "delete", "--force", "ketch-quickstart"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
