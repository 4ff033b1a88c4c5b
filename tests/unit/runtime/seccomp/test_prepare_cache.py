"""prepare(): flags, and the cache. Cache hits are checked with the compiler's own counter and, in a fresh
interpreter, by the compiler module never being imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ketch.linux.seccomp import (
    SECCOMP_FILTER_FLAG_LOG,
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
)
from ketch.runtime.seccomp import SeccompProfileError, prepare, runtime_default_profile
from ketch.runtime.seccomp.compiler import compile_count

SRC = Path(__file__).resolve().parents[4] / "src"

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}],
}


def test_cache_hit_skips_the_compiler(tmp_path: Path) -> None:
    cache = str(tmp_path / "seccomp-cache")
    before = compile_count()
    first = prepare(PROFILE, cache)
    assert compile_count() == before + 1 and not first.from_cache
    assert os.listdir(cache) == [f"{first.key}.bpf"]
    assert os.stat(cache).st_mode & 0o777 == 0o700
    second = prepare(PROFILE, cache)
    assert compile_count() == before + 1 and second.from_cache
    assert second.bpf == first.bpf and second.key == first.key
    # a different rule is a different entry
    other = prepare({**PROFILE, "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}, cache)
    assert compile_count() == before + 2 and other.key != first.key and other.bpf != first.bpf
    assert len(os.listdir(cache)) == 2


def test_without_cache_dir_every_prepare_compiles() -> None:
    before = compile_count()
    prepare(PROFILE, None)
    prepare(PROFILE, None)
    assert compile_count() == before + 2


def test_damaged_cache_entry_is_recompiled(tmp_path: Path) -> None:
    cache = str(tmp_path)
    good = prepare(PROFILE, cache)
    path = tmp_path / f"{good.key}.bpf"
    data = path.read_bytes()
    path.write_bytes(data[:-8] + b"\xff" * 8)  # same length, wrong checksum
    before = compile_count()
    again = prepare(PROFILE, cache)
    assert compile_count() == before + 1 and not again.from_cache and again.bpf == good.bpf
    assert path.read_bytes() == data
    path.write_bytes(b"garbage")
    assert prepare(PROFILE, cache).bpf == good.bpf


def test_unknown_syscall_names_are_refused_with_the_field(tmp_path: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mkdir", "not_a_call"], "action": "SCMP_ACT_ERRNO"},
        ],
    }
    for _ in range(2):  # the second time from the cache: still refused
        with pytest.raises(SeccompProfileError) as info:
            prepare(profile, str(tmp_path))
        assert "linux.seccomp.syscalls[1].names: unknown system call 'not_a_call'" in str(info.value)


def test_invalid_profile_leaves_the_cache_alone(tmp_path: Path) -> None:
    with pytest.raises(SeccompProfileError):
        prepare({"defaultAction": "SCMP_ACT_FOO"}, str(tmp_path / "c"))
    assert not (tmp_path / "c").exists()


def test_cache_hit_in_a_fresh_process_never_imports_the_compiler(tmp_path: Path) -> None:
    cache = str(tmp_path)
    profile = runtime_default_profile()
    expected = prepare(profile, cache).bpf
    script = (
        "import sys, json\n"
        "from ketch.runtime.seccomp import prepare\n"
        "prog = prepare(json.loads(sys.argv[1]), sys.argv[2])\n"
        "sys.stdout.buffer.write(prog.bpf)\n"
        "sys.exit(0 if prog.from_cache and 'ketch.runtime.seccomp.compiler' not in sys.modules else 9)\n"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(profile), cache],
        env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected


def test_flags() -> None:
    assert prepare(PROFILE, None).flags == 0
    flags = prepare({**PROFILE, "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]}, None).flags
    assert flags == SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW | SECCOMP_FILTER_FLAG_TSYNC
    # WAIT_KILLABLE_RECV means nothing without a listener, and the kernel refuses it alone
    assert prepare({**PROFILE, "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}, None).flags == 0
    notify = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    prog = prepare(notify, None)
    assert prog.notify
    assert prog.flags == (SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                          | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)


def test_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    prog = prepare(PROFILE, str(blocker / "cache"))  # cannot create a directory under a file
    assert prog.bpf == prepare(PROFILE, None).bpf and not prog.from_cache
