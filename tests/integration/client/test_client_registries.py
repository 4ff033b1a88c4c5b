"""The client against ketch's registry and CNCF distribution 2.8: multi-layer and multi-platform pull and
push through the CLI, cross-repository mounts seen in the server's log, resume after a cut connection,
referrers (API on ketch, tag schema on distribution), mirrors with a dead first mirror, copy to and from
layouts and archives, and a full disk."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from client_registries import CuttingProxy, Registry

from ketch._common.model import replace
from ketch.cli.main import main
from ketch.image.blobs import put_json, read_verified
from ketch.image.build import layer_from_tar_writer, new_config, write_image
from ketch.image.layer.generate import tar_directory
from ketch.image.platform import host_platform
from ketch.image.store import ImageStore
from ketch.spec.image import MT_OCI_INDEX, Descriptor, Index, Platform

pytestmark = [pytest.mark.slow, pytest.mark.peer]


def ketch(root: Path | str, *args: str) -> int:
    return main(["--root", str(root), *args])


def build(store: ImageStore, tmp: Path, sizes: list[int], name: str, arch: str | None = None) -> Descriptor:
    descs, diff_ids = [], []
    with store.lease():
        for i, size in enumerate(sizes):
            d = tmp / f"l-{os.urandom(4).hex()}"
            d.mkdir()
            (d / f"f{i}").write_bytes(os.urandom(size))
            desc, diff_id = layer_from_tar_writer(store, lambda out, d=d: tar_directory(str(d), out))
            descs.append(desc)
            diff_ids.append(diff_id)
        config = new_config(diff_ids)
        if arch:
            config = replace(config, architecture=arch, variant=None)
        return write_image(store, config, descs, name=name)


def test_multi_layer_push_pull_and_mount(registry: Registry, store: ImageStore, tmp_path: Path) -> None:
    name = f"{registry.domain}/app/multi:v1"
    digest = build(store, tmp_path, [300_000, 200_000, 100_000, 1000], name).digest
    assert ketch(store.root, "push", "-q", name) == 0
    other = tmp_path / "other"
    assert ketch(other, "pull", "-q", "--no-unpack", name) == 0
    pulled = ImageStore(str(other))
    assert pulled.get(name).target.digest == digest
    for layer in pulled.content.walk():
        with pulled.content.open(layer.digest) as a, store.content.open(layer.digest) as b:
            assert a.read() == b.read()
    # pushing the pulled image to another repository of the same registry mounts every blob
    assert ketch(other, "tag", name, f"{registry.domain}/app/copy:v1") == 0
    assert ketch(other, "push", "-q", f"{registry.domain}/app/copy:v1") == 0
    log = registry.log_text()
    mounts = [line for line in log.splitlines() if "mount=" in line and "app/copy" in line]
    assert len(mounts) >= 5, log[-3000:]
    assert all("201" in line for line in mounts)


def test_multi_platform_index(registry: Registry, store: ImageStore, tmp_path: Path) -> None:
    host = host_platform().architecture
    other = "arm64" if host != "arm64" else "amd64"
    a = build(store, tmp_path, [1000, 2000], "local/a", host)
    b = build(store, tmp_path, [1500], "local/b", other)
    name = f"{registry.domain}/app/multi-arch:v1"
    assert ketch(store.root, "manifest", "create", name, "local/a", "local/b") == 0
    assert ketch(store.root, "manifest", "push", "-q", name) == 0
    dst = tmp_path / "dst"
    assert ketch(dst, "pull", "-q", "--no-unpack", name) == 0
    assert ImageStore(str(dst)).get(name).target.digest == a.digest
    assert (
        ketch(
            dst,
            "pull",
            "-q",
            "--no-unpack",
            "--platform",
            f"linux/{other}",
            f"{registry.domain}/app/multi-arch:v1",
        )
        == 0
    )
    assert ImageStore(str(dst)).get(name).target.digest == b.digest
    all_root = tmp_path / "all"
    assert ketch(all_root, "pull", "-q", "--all-platforms", name) == 0
    target = ImageStore(str(all_root)).get(name).target
    assert target.media_type == MT_OCI_INDEX
    index = Index.parse(read_verified(ImageStore(str(all_root)).content, target))
    assert {m.digest for m in index.manifests} == {a.digest, b.digest}


def test_resume_after_the_connection_is_cut(registry: Registry, store: ImageStore, tmp_path: Path) -> None:
    name = f"{registry.domain}/app/big:v1"
    build(store, tmp_path, [3_000_000], name)
    assert ketch(store.root, "push", "-q", name) == 0
    proxy = CuttingProxy(registry.port, cut_at=1_000_000)
    try:
        dst = tmp_path / "dst"
        assert ketch(dst, "pull", "-q", "--no-unpack", f"{proxy.domain}/app/big:v1") == 0
        assert proxy.cuts == 1 and proxy.range_requests >= 1
        pulled = ImageStore(str(dst))
        assert pulled.content.ingests() == []
        from ketch.image.resolve import load_image

        load_image(pulled.content, pulled.get(f"{proxy.domain}/app/big:v1").target)
    finally:
        proxy.stop()


def test_referrers(
    registry: Registry, store: ImageStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{registry.domain}/app/signed:v1"
    build(store, tmp_path, [100], name)
    assert ketch(store.root, "push", "-q", name) == 0
    sig = tmp_path / "sig.json"
    sig.write_text('{"signed": true}')
    capsys.readouterr()
    assert ketch(store.root, "attach", "--artifact-type", "application/vnd.example.sig", str(sig), name) == 0
    out, err = capsys.readouterr()
    expected = "api" if registry.kind == "ketch" else "tag-schema"
    assert f"referrers {expected}" in err
    assert ketch(store.root, "referrers", "--format", "json", name) == 0
    import json

    doc = json.loads(capsys.readouterr()[0])
    assert doc["via"] == expected and [m["digest"] for m in doc["manifests"]] == [out.strip()]
    assert doc["manifests"][0]["artifactType"] == "application/vnd.example.sig"


def test_mirrors_with_a_dead_first_mirror(registry: Registry, store: ImageStore, tmp_path: Path) -> None:
    upstream = Registry(
        "ketch" if registry.kind == "distribution" else "distribution", tmp_path / "up"
    ).start()
    try:
        name = f"{registry.domain}/lib/m:v1"
        digest = build(store, tmp_path, [5000], name).digest
        assert ketch(store.root, "push", "-q", name) == 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        hosts = tmp_path / "certs.d" / upstream.domain
        hosts.mkdir(parents=True)
        (hosts / "hosts.toml").write_text(
            f'server = "http://{upstream.domain}"\n'
            f'[host."http://127.0.0.1:{dead}"]\n  capabilities = ["pull", "resolve"]\n'
            f'[host."http://{registry.domain}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        dst = tmp_path / "dst"
        assert (
            ketch(
                dst,
                "pull",
                "-q",
                "--no-unpack",
                "--hosts-dir",
                str(tmp_path / "certs.d"),
                f"{upstream.domain}/lib/m:v1",
            )
            == 0
        )
        assert ImageStore(str(dst)).get(f"{upstream.domain}/lib/m:v1").target.digest == digest
        assert "lib/m" not in upstream.log_text()  # everything came from the mirror
    finally:
        upstream.stop()


def test_copy_between_registry_layout_and_archive(
    registry: Registry, store: ImageStore, tmp_path: Path
) -> None:
    name = f"{registry.domain}/app/copied:v1"
    digest = build(store, tmp_path, [4000, 3000], name).digest
    assert ketch(store.root, "push", "-q", name) == 0
    layout = tmp_path / "layout"
    assert ketch(tmp_path / "r1", "copy", "-q", name, f"oci:{layout}:v1") == 0
    index = Index.parse((layout / "index.json").read_bytes())
    assert [m.digest for m in index.manifests] == [digest]
    archive = tmp_path / "image.tar"
    assert ketch(tmp_path / "r1", "copy", "-q", f"oci:{layout}:v1", f"oci-archive:{archive}:v1") == 0
    assert (
        ketch(
            tmp_path / "r1",
            "copy",
            "-q",
            f"oci-archive:{archive}:v1",
            f"{registry.domain}/app/from-archive:v2",
        )
        == 0
    )
    assert (
        ketch(
            tmp_path / "r1",
            "copy",
            "-q",
            f"{registry.domain}/app/from-archive:v2",
            f"{registry.domain}/other/x:v3",
        )
        == 0
    )
    assert ketch(tmp_path / "r2", "pull", "-q", "--no-unpack", f"{registry.domain}/other/x:v3") == 0
    assert ImageStore(str(tmp_path / "r2")).get(f"{registry.domain}/other/x:v3").target.digest == digest


@pytest.mark.root
def test_full_disk_gives_a_clear_error_and_a_consistent_store(
    distribution: Registry, store: ImageStore, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"{distribution.domain}/app/huge:v1"
    build(store, tmp_path, [3_000_000], name)
    assert ketch(store.root, "push", "-q", name) == 0
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        capfd.readouterr()
        assert ketch(small, "pull", "-q", "--no-unpack", name) == 1
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
        full = ImageStore(str(small))
        assert full.images() == []
        assert full.content.ingests() == []
        for blob in full.content.walk():  # whatever is there is whole
            assert blob.size < 3_000_000
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_platforms_in_index_entries_are_kept(registry: Registry, store: ImageStore, tmp_path: Path) -> None:
    """An index pushed with --all-platforms keeps each entry's platform (the registry gets the same bytes)."""
    a = build(store, tmp_path, [10], "x/a")
    a = replace(a, platform=Platform(architecture=host_platform().architecture, os="linux"))
    with store.lease():
        idx = put_json(store.content, MT_OCI_INDEX, Index(manifests=[a], media_type=MT_OCI_INDEX).to_json())
        store.put(f"{registry.domain}/x/idx:v1", idx)
    assert ketch(store.root, "push", "-q", "--all-platforms", f"{registry.domain}/x/idx:v1") == 0
    from ketch.registry.client import Repository, Session, SessionOptions

    repo = Repository(Session.open(registry.domain, SessionOptions(hosts_dir="", docker_config="")), "x/idx")
    desc, data = repo.fetch_manifest("v1")
    assert desc.digest == idx.digest and data == read_verified(store.content, idx)
