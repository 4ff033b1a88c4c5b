from __future__ import annotations

import json
import os
from pathlib import Path

from ketch.testing import make_bundle, make_rootfs


def test_rootfs_has_busybox_applets_and_users(tmp_path: Path) -> None:
    root = make_rootfs(str(tmp_path / "rootfs"))
    assert os.path.isfile(os.path.join(root, "bin", "busybox"))
    assert os.readlink(os.path.join(root, "bin", "sh")) == "busybox"
    assert "root:x:0:0" in Path(root, "etc", "passwd").read_text()


def test_bundle_config_runs_given_args_without_terminal(tmp_path: Path) -> None:
    bundle = make_bundle(str(tmp_path / "b"), ["echo", "hi"], cwd="/tmp")
    cfg = json.loads(Path(bundle, "config.json").read_text())
    assert cfg["process"]["args"] == ["echo", "hi"]
    assert cfg["process"]["terminal"] is False
    assert cfg["process"]["cwd"] == "/tmp"
    assert cfg["root"]["path"] == "rootfs"
