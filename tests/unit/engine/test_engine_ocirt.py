"""OciRuntime: runc's command line, and no process spawned for a container the runtime does not have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.engine.errors import RuntimeFailed
from ketch.engine.ocirt import OciRuntime

# A runtime that logs its arguments, keeps state in <root>/<id> as runc does, and fails as told.
FAKE = """#!/bin/sh
echo "$@" >> "{log}"
root="$2"; shift 2
case "$1" in
  state) [ -d "$root/$2" ] && echo '{{"id": "'"$2"'", "status": "stopped"}}' && exit 0; echo "container does not exist" >&2; exit 1;;
  delete) id="$2"; [ "$2" = --force ] && id="$3"; [ -e "$root/$id/stuck" ] && {{ echo "cannot delete $id: busy" >&2; exit 1; }}; rm -rf "$root/$id"; exit 0;;
esac
exit 0
"""


@pytest.fixture
def rt(tmp_path: Path) -> tuple[OciRuntime, Path]:
    log = tmp_path / "calls.log"
    binary = tmp_path / "fake-runtime"
    binary.write_text(FAKE.format(log=log))
    binary.chmod(0o755)
    return OciRuntime("fake", str(binary), str(tmp_path / "root")), log


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_unknown_container_needs_no_runtime_process(rt: tuple[OciRuntime, Path]) -> None:
    runtime, log = rt
    assert runtime.state("c1") is None
    runtime.delete("c1", force=True)
    assert _calls(log) == []


def test_known_container_state_and_delete(rt: tuple[OciRuntime, Path]) -> None:
    runtime, log = rt
    os.mkdir(os.path.join(runtime.root, "c1"))
    assert runtime.state("c1") == {"id": "c1", "status": "stopped"}
    runtime.delete("c1", force=True)
    assert not os.path.exists(os.path.join(runtime.root, "c1"))
    assert [c.split(" ", 2)[2] for c in _calls(log)] == ["state c1", "delete --force c1"]


def test_failed_delete_names_the_runtime_and_keeps_the_state(rt: tuple[OciRuntime, Path]) -> None:
    runtime, _ = rt
    os.makedirs(os.path.join(runtime.root, "c1", "stuck"))
    with pytest.raises(RuntimeFailed, match="fake delete: cannot delete c1: busy"):
        runtime.delete("c1")
    assert os.path.isdir(os.path.join(runtime.root, "c1"))
