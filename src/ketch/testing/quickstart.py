"""The README's first command: a container from an image, end to end, offline.

1. build a busybox image from Debian's busybox-static (``ketch image import --rootfs``)
2. start ``ketch registry serve`` on 127.0.0.1 and push the image to it (``ketch push``)
3. forget the local image, pull it back (``ketch pull``)
4. unpack it into a runtime bundle (``ketch image unpack``)
5. run it with ``ketch-runtime run``

Every step prints what it did and how long it took. All state lives in a temporary directory removed at the
end, so the quickstart can run again.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from ketch.testing.busybox import make_rootfs

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
        port = _free_port()
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
