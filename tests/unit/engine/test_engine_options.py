"""Parsing of ``ketch run`` option values, the config file, records, logs and the runtime config."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ketch.engine.config import load_config
from ketch.engine.errors import Conflict, EngineError, NotFound, UsageError
from ketch.engine.logs import parse_line, parse_since, read_log
from ketch.engine.options import RunOptions, parse_env_file, parse_mount, parse_port, parse_size, parse_tmpfs
from ketch.engine.records import ContainerRecord, ContainerStore, PortMapping
from ketch.engine.spec import DEFAULT_CAPS, build_config, capabilities
from ketch.spec.image import ImageConfig


def test_sizes() -> None:
    assert parse_size("64m", "--memory") == 64 << 20
    assert parse_size("1g", "--memory") == 1 << 30
    assert parse_size("512k", "--memory") == 512 << 10
    assert parse_size("4096", "--memory") == 4096
    for bad in ("12q", "", "-1m", "0"):
        with pytest.raises(UsageError, match="--memory"):
            parse_size(bad, "--memory")


def test_ports() -> None:
    assert parse_port("8080:80") == PortMapping("", 8080, 80, "tcp")
    assert parse_port("127.0.0.1:53:53/udp") == PortMapping("127.0.0.1", 53, 53, "udp")
    for bad, why in (("80", "expected"), ("0:80", "port '0'"), ("8080:80/sctp", "sctp"), ("a:80", "'a'")):
        with pytest.raises(UsageError, match=why):
            parse_port(bad)


def test_mounts() -> None:
    assert parse_mount("/srv:/data:ro").kind == "bind"
    m = parse_mount("vol:/data")
    assert (m.kind, m.source, m.destination, m.readonly) == ("volume", "vol", "/data", False)
    assert parse_tmpfs("/run:size=1m").options == ["size=1m"]
    for bad in ("x", "/a:rel", "/a:/b:rw:x", "/a:/b:zz", "bad/name:/x", ":/x"):
        with pytest.raises(UsageError):
            parse_mount(bad)


def test_env_file(tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("# c\n\nA=1\nB=two words\n")
    assert parse_env_file(str(f)) == ["A=1", "B=two words"]
    f.write_text("=nothing\n")
    with pytest.raises(UsageError, match=":1:"):
        parse_env_file(str(f))


def test_capabilities() -> None:
    assert capabilities(RunOptions("x")) == sorted(DEFAULT_CAPS)
    assert capabilities(RunOptions("x", cap_drop=["ALL"], cap_add=["net_admin"])) == ["CAP_NET_ADMIN"]
    assert "CAP_CHOWN" not in capabilities(RunOptions("x", cap_drop=["CHOWN"]))
    with pytest.raises(UsageError, match="unknown capability 'FLY'"):
        capabilities(RunOptions("x", cap_add=["FLY"]))


def test_config_file(tmp_path: Path) -> None:
    assert load_config(None).default_runtime  # defaults when /etc/ketch/ketch.toml is absent
    f = tmp_path / "k.toml"
    f.write_text('[storage]\nroot = "/srv/k"\n[runtime]\ndefault = "crun"\n[runtime.paths]\ncrun = "/opt/crun"\n')
    cfg = load_config(str(f))
    assert (cfg.root, cfg.default_runtime, cfg.runtime_path("crun"), cfg.source) == ("/srv/k", "crun", "/opt/crun", str(f))
    f.write_text("[storage]\nroute = 1\n")
    with pytest.raises(UsageError, match="unknown key 'route' in \\[storage\\]"):
        load_config(str(f))
    f.write_text("[nope]\n")
    with pytest.raises(UsageError, match="unknown section \\[nope\\]"):
        load_config(str(f))
    f.write_text("not toml ===")
    with pytest.raises(UsageError, match=r"k\.toml"):
        load_config(str(f))
    with pytest.raises(UsageError, match="does not exist"):
        load_config(str(tmp_path / "missing.toml"))


def _record(cid: str, name: str) -> ContainerRecord:
    return ContainerRecord(id=cid, name=name, image="img", image_digest="sha256:0", command=["true"],
                           created="2026-01-01T00:00:00Z", runtime="ketch-runtime", bundle="/b", log_path="/l",
                           snapshotter="overlay", ports=[PortMapping("", 1, 2, "tcp")])  # fmt: skip


def test_records_are_unique_by_name_and_versioned(tmp_path: Path) -> None:
    store = ContainerStore(str(tmp_path))
    a = _record("a" * 64, "one")
    store.create(a)
    assert store.load(a.id) == a
    assert store.find("one").id == a.id and store.find("aaaa").id == a.id
    with pytest.raises(Conflict, match="container name 'one' is already in use"):
        store.create(_record("b" * 64, "one"))
    assert store.ids() == [a.id]  # the refused record left nothing
    with pytest.raises(UsageError, match="invalid container name"):
        store.create(_record("c" * 64, "../x"))
    with pytest.raises(NotFound, match="no such container: two"):
        store.find("two")
    path = tmp_path / "containers" / a.id / "record.json"
    data = json.loads(path.read_text())
    assert data["version"] == 1
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(EngineError, match="record version 99"):
        store.load(a.id)
    store.remove(a.id)
    assert store.ids() == []


def test_k8s_file_log_lines(tmp_path: Path) -> None:
    e = parse_line("2026-11-29T02:59:19.019360412+00:00 stdout F hi there\n")
    assert e is not None and (e.stream, e.text) == ("stdout", "hi there\n")
    assert e.time == datetime(2026, 11, 29, 2, 59, 19, 19360, tzinfo=UTC)
    partial = parse_line("2026-11-29T02:59:19.1+00:00 stderr P no newline")
    assert partial is not None and partial.text == "no newline"
    assert parse_line("garbage") is None
    log = tmp_path / "log"
    log.write_text("2026-11-29T02:59:19Z stdout F a\n2026-11-29T02:59:20Z stdout F b\nhalf-written")
    assert [x.text for x in read_log(str(log))] == ["a\n", "b\n"]
    now = datetime(2026, 11, 29, 3, 0, 0, tzinfo=UTC)
    assert parse_since("10m", now) == datetime(2026, 11, 29, 2, 50, 0, tzinfo=UTC)
    assert parse_since("2026-11-29T02:59:19Z").minute == 59
    with pytest.raises(UsageError, match="--since 'yesterday'"):
        parse_since("yesterday")


def test_runtime_config_from_options(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    image = ImageConfig.from_json({
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Cmd": ["serve"], "Env": ["A=image", "KEEP=1"], "StopSignal": "SIGQUIT"},
    })  # fmt: skip
    opts = RunOptions("img", command=None, env=["A=user"], user="app", workdir="/w", memory=1 << 26, cpus=1.5,
                      pids_limit=10, read_only=True, entrypoint="/bin/tini")  # fmt: skip
    cfg = build_config(image, str(rootfs), opts, container_id="c" * 64, netns="/run/x/netns/c", hostname="h",
                       extra_mounts=[{"destination": "/data", "type": "bind", "source": "/v", "options": ["rbind"]}])  # fmt: skip
    p = cfg["process"]
    assert p["args"] == ["/bin/tini"]  # --entrypoint resets the image's Cmd
    assert "A=user" in p["env"] and "KEEP=1" in p["env"] and "A=image" not in p["env"]
    assert p["user"]["uid"] == 1000 and p["cwd"] == "/w"
    assert cfg["root"]["readonly"] is True and cfg["hostname"] == "h"
    r = cfg["linux"]["resources"]
    assert r["memory"] == {"limit": 1 << 26} and r["cpu"] == {"quota": 150000, "period": 100000}
    assert r["pids"] == {"limit": 10}
    assert {"type": "network", "path": "/run/x/netns/c"} in cfg["linux"]["namespaces"]
    dests = [m["destination"] for m in cfg["mounts"]]
    assert "/data" in dests and "/tmp" in dests  # --read-only keeps /tmp writable
    host = build_config(image, str(rootfs), RunOptions("img"), container_id="c" * 64, netns="host",
                        hostname="h", extra_mounts=[])  # fmt: skip
    assert all(ns["type"] != "network" for ns in host["linux"]["namespaces"])
    assert host["process"]["args"] == ["serve"]
