"""Configuration, on-disk records, names and filters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ketch.cri.config import load_config
from ketch.cri.errors import AlreadyExists, InvalidArgument
from ketch.cri.labels import match_id, match_labels
from ketch.cri.names import NameRegistry, check_metadata_name
from ketch.cri.store import FORMAT_VERSION, ContainerRecord, RecordStore, SandboxRecord


def test_config_defaults_and_handlers(tmp_path: Path) -> None:
    f = tmp_path / "k.toml"
    f.write_text('[runtime]\ndefault_handler = "fast"\ncgroup_root = "/kk"\n'
                 '[runtime.handlers.fast]\npath = "/usr/bin/crun"\n'
                 '[cni]\nsubnet = "10.77.5.0/24"\nbin_dirs = ["/x"]\n[image]\nsnapshotter = "copy"\n')
    cfg = load_config(str(f), str(tmp_path / "root"), str(tmp_path / "state"))
    assert cfg.handler("").path == "/usr/bin/crun"
    assert cfg.handler("fast").name == "fast"
    assert cfg.cgroup_root == "/kk" and cfg.cni_subnet == "10.77.5.0/24" and cfg.cni_bin_dirs == ["/x"]
    assert cfg.snapshotter == "copy"
    assert cfg.image_root == "/var/lib/ketch"  # shared with `ketch image ...`
    assert cfg.cni_conf_dir == str(tmp_path / "root" / "cni" / "net.d")
    assert cfg.runtime_root(cfg.handler("fast")) == str(tmp_path / "state" / "runtime" / "fast")
    with pytest.raises(InvalidArgument, match="'nope' is not configured"):
        cfg.handler("nope")


@pytest.mark.parametrize(("text", "message"), [
    ('[runtime]\ndefault_handler = 3\n', "runtime.default_handler must be a str"),
    ('[runtime]\ndefault_handler = "missing"\n', "default runtime handler 'missing'"),
    ('[runtime.handlers.x]\nroot = "/r"\n', "runtime.handlers.x.path is required"),
    ('[cni]\nsubnet = "10.77.0.0/33"\n', "cni.subnet"),
    ('[image]\nsnapshotter = "zfs"\n', "image.snapshotter"),
    ('not toml = = 1\n', "config file"),
])
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "k.toml"
    f.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        load_config(str(f), str(tmp_path), str(tmp_path))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_config(str(tmp_path / "none.toml"), str(tmp_path), str(tmp_path))


def test_records_round_trip_and_skip_bad_files(tmp_path: Path) -> None:
    store: RecordStore[SandboxRecord] = RecordStore(str(tmp_path), SandboxRecord, "sandbox")
    rec = SandboxRecord(id="a" * 64, name="p_ns_uid_0", metadata={"name": "p"}, config="", runtime_handler="runc",
                        created_at=1, labels={"x": "y"}, namespaces={"net": "/n"})
    store.save(rec)
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "future.json").write_text(json.dumps({"version": FORMAT_VERSION + 1, "sandbox": {}}))
    got, bad = store.load_all()
    assert got == [rec]
    assert len(bad) == 2 and any("format version" in b for b in bad)
    store.delete(rec.id)
    store.delete(rec.id)  # idempotent
    assert store.load_all()[0] == []
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary files left


def test_container_records_ignore_unknown_fields(tmp_path: Path) -> None:
    store: RecordStore[ContainerRecord] = RecordStore(str(tmp_path), ContainerRecord, "container")
    rec = ContainerRecord(id="c1", sandbox_id="s", name="n", metadata={}, config="", image="i", image_ref="r",
                          image_id="d", runtime_handler="runc", bundle="/b", snapshot="c1", log_path="/l",
                          created_at=5)
    store.save(rec)
    doc = json.loads((tmp_path / "c1.json").read_text())
    doc["container"]["field_from_a_newer_ketchd"] = 1
    (tmp_path / "c1.json").write_text(json.dumps(doc))
    assert store.load_all()[0] == [rec]


@pytest.mark.parametrize("name", ["", "-x", "x-", "a/b", "..", "a b", "x" * 254, "é"])
def test_bad_metadata_names(name: str) -> None:
    with pytest.raises(InvalidArgument):
        check_metadata_name(name, "metadata.name")


def test_good_metadata_names() -> None:
    for n in ("a", "web-1", "kube-system", "9f3c2a1e-uid", "a.b_c"):
        assert check_metadata_name(n, "metadata.name") == n


def test_name_reservation() -> None:
    names = NameRegistry()
    names.reserve("n", "id1")
    names.reserve("n", "id1")  # same owner: fine
    with pytest.raises(AlreadyExists, match="reserved by id1"):
        names.reserve("n", "id2")
    names.release("n")
    names.reserve("n", "id2")
    assert names.owner("n") == "id2"


def test_filters() -> None:
    assert match_labels({}, {"a": "1"})
    assert match_labels({"a": "1"}, {"a": "1", "b": "2"})
    assert not match_labels({"a": "1", "c": "3"}, {"a": "1"})
    assert not match_labels({"a": "2"}, {"a": "1"})
    assert match_id("", "abc") and match_id("ab", "abc") and not match_id("b", "abc")
