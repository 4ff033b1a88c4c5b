"""The ``ketch`` dispatcher and ``ketch image`` commands, run in-process against a temp root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layer_tars import entry, make_tar

from ketch.cli.main import COMMANDS, main


def ketch(root: Path, *args: str) -> int:
    return main(["--root", str(root), *args])


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("ketch version ")
    assert main(["--help"]) == 0
    assert "image" in capsys.readouterr().out
    assert main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err
    assert all(isinstance(m, str) and isinstance(h, str) for m, h in COMMANDS.values())


def test_image_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "hello").write_text("hi")
    root = tmp_path / "root"
    assert ketch(root, "image", "import", "--rootfs", str(tree), "--name", "demo") == 0
    assert ketch(root, "image", "tag", "demo", "example.com/demo:v1") == 0
    capsys.readouterr()
    assert ketch(root, "image", "ls") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]
    assert {line.split()[0] for line in out[1:]} == {"demo", "example.com/demo"}
    assert ketch(root, "image", "ls", "--format", "json") == 0
    names = {i["name"] for i in json.loads(capsys.readouterr().out)}
    assert names == {"docker.io/library/demo:latest", "example.com/demo:v1"}
    assert ketch(root, "image", "inspect", "demo") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["rootfs"]["type"] == "layers"
    assert ketch(root, "image", "export", "demo", "-o", str(tmp_path / "demo.tar")) == 0
    assert ketch(root, "image", "rm", "demo", "example.com/demo:v1") == 0
    assert ketch(root, "image", "prune", "--format", "json") == 0
    capsys.readouterr()
    assert ketch(root, "image", "import", str(tmp_path / "demo.tar")) == 0
    assert "docker.io/library/demo:latest" in capsys.readouterr().out
    assert ketch(root, "image", "unpack", "demo", str(tmp_path / "bundle"), "--", "cat", "/bin/hello") == 0
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert config["process"]["args"] == ["cat", "/bin/hello"] and config["process"]["terminal"] is False
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "hello").read_text() == "hi"


def test_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert ketch(root, "image", "inspect", "missing") == 1
    assert "image docker.io/library/missing:latest not found" in capsys.readouterr().err
    assert ketch(root, "image", "tag", "missing", "Bad Name") == 1
    assert ketch(root, "image", "import", str(tmp_path)) == 1
    assert "without an oci-layout" in capsys.readouterr().err


def test_unpack_failure_leaves_no_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from ketch.image.blobs import put_layer
    from ketch.image.build import new_config, write_image
    from ketch.image.store import ImageStore

    store = ImageStore(str(tmp_path / "root"), durable=False)
    layer, diff_id = put_layer(store.content, io.BytesIO(make_tar(entry("../escape", data=b"x"))))
    write_image(store, new_config([diff_id]), [layer], name="evil")
    bundle = tmp_path / "bundle"
    assert ketch(tmp_path / "root", "image", "unpack", "evil", str(bundle), "--", "true") == 1
    assert "'../escape' escapes the root" in capsys.readouterr().err
    assert not bundle.exists()
