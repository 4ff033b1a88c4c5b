"""Seccomp filter cost of a container start: compiling the RuntimeDefault profile with libseccomp against
loading it from the filter cache, in-process and in a fresh interpreter (``sys.executable``), plus the
seccomp(2) load itself in a forked child.

    PYTHONPATH=src python bench/seccomp_compile.py [rounds]

Prints medians in milliseconds and the compile / cache-hit ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ketch.linux.seccomp import load_filter
from ketch.runtime.seccomp import prepare, runtime_default_profile

SRC = str(Path(__file__).resolve().parents[1] / "src")
_FRESH = (
    "import sys, json, time\n"
    "t = time.perf_counter()\n"
    "from ketch.runtime.seccomp import prepare\n"
    "prog = prepare(json.loads(sys.argv[1]), sys.argv[2] or None)\n"
    "print((time.perf_counter() - t) * 1000, prog.from_cache)\n"
)


def _median_ms(fn: object, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def _fresh(profile_json: str, cache: str, rounds: int) -> tuple[float, float]:
    """(median wall ms of the whole interpreter, median ms of import + prepare inside it)."""
    walls, inner = [], []
    env = {**os.environ, "PYTHONPATH": SRC}
    for _ in range(rounds):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _FRESH, profile_json, cache], env=env, capture_output=True,
                             text=True, check=True)
        walls.append((time.perf_counter() - t) * 1000)
        inner.append(float(out.stdout.split()[0]))
    return statistics.median(walls), statistics.median(inner)


def _load_in_child(bpf: bytes, flags: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            import ctypes

            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            t = time.perf_counter()
            load_filter(bpf, flags)
            os.write(w, str((time.perf_counter() - t) * 1000).encode())
            os._exit(0)
        os.close(w)
        data = os.read(r, 64)
        os.close(r)
        os.waitpid(pid, 0)
        samples.append(float(data))
    return statistics.median(samples)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    profile = runtime_default_profile()
    profile_json = json.dumps(profile)
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "seccomp-cache")
        compile_ms = _median_ms(lambda: prepare(profile, None), rounds)
        prog = prepare(profile, cache)
        hit_ms = _median_ms(lambda: prepare(profile, cache), rounds)
        fresh_compile = _fresh(profile_json, "", max(rounds // 2, 3))
        fresh_hit = _fresh(profile_json, cache, max(rounds // 2, 3))
        load_ms = _load_in_child(prog.bpf, prog.flags, rounds)
    print(f"RuntimeDefault profile: {len(profile['syscalls'])} entries, {len(prog.bpf) // 8} BPF instructions")
    print(f"in process   compile (libseccomp)  {compile_ms:8.3f} ms")
    print(f"in process   cache hit             {hit_ms:8.3f} ms")
    print(f"fresh python compile: import+prepare {fresh_compile[1]:8.3f} ms, whole interpreter {fresh_compile[0]:8.1f} ms")
    print(f"fresh python cache hit: import+prepare {fresh_hit[1]:8.3f} ms, whole interpreter {fresh_hit[0]:8.1f} ms")
    print(f"seccomp(2) load in the child        {load_ms:8.3f} ms")
    print(f"ratio compile / cache hit: in process {compile_ms / hit_ms:.1f}x, fresh interpreter "
          f"{fresh_compile[1] / fresh_hit[1]:.1f}x")


if __name__ == "__main__":
    main()
