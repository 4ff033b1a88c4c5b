"""Image config -> runtime config, per conversion.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ketch.image.convert import runtime_config
from ketch.image.errors import ConvertError
from ketch.spec.image import ContainerConfig, ImageConfig, RootFS

PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:alice,bob\nalice:x:1001:\nwheel:x:10:alice\nbob:x:1002:\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return str(tmp_path)


def image(**cc: Any) -> ImageConfig:
    return ImageConfig(
        architecture="amd64",
        os="linux",
        rootfs=RootFS([]),
        created="2024-01-02T03:04:05Z",
        author="me",
        config=ContainerConfig(**cc) if cc else None,
    )


def test_args_env_cwd(rootfs: str) -> None:
    cfg = runtime_config(
        image(entrypoint=["/bin/app"], cmd=["--flag"], env=["PATH=/opt/bin", "X=1"], working_dir="/srv"),
        rootfs,
    )
    p = cfg["process"]
    assert p["args"] == ["/bin/app", "--flag"]
    assert p["env"] == ["PATH=/opt/bin", "X=1", "TERM=xterm"]  # defaults never override the image's
    assert p["cwd"] == "/srv"
    assert p["terminal"] is False
    assert cfg["root"] == {"path": "rootfs", "readonly": False}
    assert runtime_config(image(cmd=["sh"]), rootfs, args=["echo", "x"])["process"]["args"] == ["echo", "x"]
    assert runtime_config(image(entrypoint=["e"]), rootfs)["process"]["args"] == ["e"]


def test_no_command_is_an_error(rootfs: str) -> None:
    with pytest.raises(ConvertError, match=r"neither Config\.Entrypoint nor Config\.Cmd"):
        runtime_config(image(), rootfs)


@pytest.mark.parametrize(
    ("user", "uid", "gid", "extra"),
    [
        (None, 0, 0, None),
        ("alice", 1000, 1001, [10, 50]),
        ("1000", 1000, 1001, None),
        ("4242", 4242, 0, None),
        ("alice:staff", 1000, 50, None),
        ("1002:7", 1002, 7, None),
        ("bob:wheel", 1002, 10, None),
    ],
)
def test_user(rootfs: str, user: str | None, uid: int, gid: int, extra: list[int] | None) -> None:
    u = runtime_config(image(cmd=["x"], user=user), rootfs)["process"]["user"]
    assert (u["uid"], u["gid"], u.get("additionalGids")) == (uid, gid, extra)


@pytest.mark.parametrize("user", ["nobody", "alice:nogroup", ":x", "alice:"])
def test_unknown_user_is_an_error(rootfs: str, user: str) -> None:
    with pytest.raises(ConvertError, match=r"Config\.User"):
        runtime_config(image(cmd=["x"], user=user), rootfs)


def test_passwd_symlink_is_resolved_inside_the_rootfs(tmp_path: Path) -> None:
    # CVE-2019-16884 class: /etc/passwd -> the host's file must not be read
    host = tmp_path / "host"
    host.mkdir()
    (host / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    os.symlink(str(host / "passwd"), root / "etc" / "passwd")
    with pytest.raises(ConvertError, match="no user 'evil'"):
        runtime_config(image(cmd=["x"], user="evil"), str(root))
    os.unlink(root / "etc" / "passwd")
    os.symlink("../../host/passwd", root / "etc" / "passwd")
    with pytest.raises(ConvertError, match="no user 'evil'"):
        runtime_config(image(cmd=["x"], user="evil"), str(root))


def test_annotations_and_precedence(rootfs: str) -> None:
    img = image(
        cmd=["x"],
        labels={"org.opencontainers.image.author": "label-wins", "custom": "v"},
        stop_signal="SIGQUIT",
        exposed_ports={"80/tcp": {}, "53/udp": {}},
    )
    img.variant = "v2"
    img.os_features = ["a", "b"]
    ann = runtime_config(img, rootfs)["annotations"]
    assert ann == {
        "org.opencontainers.image.os": "linux",
        "org.opencontainers.image.architecture": "amd64",
        "org.opencontainers.image.variant": "v2",
        "org.opencontainers.image.os.features": "a,b",
        "org.opencontainers.image.author": "label-wins",
        "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
        "org.opencontainers.image.stopSignal": "SIGQUIT",
        "org.opencontainers.image.exposedPorts": "80/tcp,53/udp",
        "custom": "v",
    }


def test_volumes(rootfs: str) -> None:
    cfg = runtime_config(image(cmd=["x"], volumes={"/data": {}, "/proc": {}}), rootfs)
    data = [m for m in cfg["mounts"] if m["destination"] == "/data"]
    assert data == [
        {
            "destination": "/data",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=755"],
        }
    ]
    assert len([m for m in cfg["mounts"] if m["destination"] == "/proc"]) == 1
    none = runtime_config(image(cmd=["x"], volumes={"/data": {}}), rootfs, volumes="none")
    assert not [m for m in none["mounts"] if m["destination"] == "/data"]
    with pytest.raises(ConvertError, match="'rel'"):
        runtime_config(image(cmd=["x"], volumes={"rel": {}}), rootfs)
