"""The README's first command: run a container from a busybox bundle built offline, end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from ketch.testing.busybox import make_bundle


def _step(title: str) -> float:
    sys.stdout.write(f"==> {title}\n")
    sys.stdout.flush()
    return time.perf_counter()


def _done(start: float) -> None:
    sys.stdout.write(f"    done in {(time.perf_counter() - start) * 1000:.0f} ms\n")


def main() -> int:
    runtime = shutil.which("ketch-runtime") or os.path.join(os.path.dirname(sys.executable), "ketch-runtime")
    work = tempfile.mkdtemp(prefix="ketch-quickstart-")
    root = os.path.join(work, "state")
    try:
        t = _step("building a busybox bundle offline (Debian's busybox-static)")
        bundle = make_bundle(
            os.path.join(work, "bundle"),
            ["sh", "-c", "echo hello from a ketch container; echo hostname: $(hostname); echo pid: $$; id"],
        )
        _done(t)
        t = _step(f"ketch-runtime run quickstart (bundle {bundle})")
        proc = subprocess.run(
            [runtime, "--root", root, "run", "--bundle", bundle, "ketch-quickstart"],
            stdin=subprocess.DEVNULL,
        )
        _done(t)
        if proc.returncode != 0:
            sys.stderr.write(f"quickstart: the container exited with status {proc.returncode}\n")
            return 1
        sys.stdout.write("quickstart: ok\n")
        return 0
    finally:
        subprocess.run([runtime, "--root", root, "delete", "--force", "ketch-quickstart"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
