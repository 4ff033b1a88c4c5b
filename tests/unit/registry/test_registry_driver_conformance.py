"""Conformance suite for storage drivers, written once and run against every driver available."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_helpers import S3_ACCESS_KEY, S3_SECRET_KEY

from ketch.registry.storage.driver import FilesystemDriver, PathBusy, PathNotFound, StorageDriver


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=[pytest.mark.peer, pytest.mark.slow])])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    if request.param == "filesystem":
        yield FilesystemDriver(str(tmp_path / "store"))
        return
    from ketch.registry.storage.driver.s3 import S3Driver

    endpoint = request.getfixturevalue("s3_endpoint")
    d = S3Driver(
        endpoint,
        "conformance",
        prefix=f"t{os.getpid()}-{uuid.uuid4().hex[:8]}",
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
    )
    yield d
    try:
        d.delete("v2")
    except PathNotFound:
        pass


def test_put_get_replace(driver: StorageDriver) -> None:
    driver.put_content("v2/a/b", b"one")
    assert driver.get_content("v2/a/b") == b"one"
    driver.put_content("v2/a/b", b"two")
    assert driver.get_content("v2/a/b") == b"two"
    driver.put_content("v2/empty", b"")
    assert driver.get_content("v2/empty") == b""


def test_missing_paths(driver: StorageDriver) -> None:
    for op in (driver.get_content, driver.stat, driver.list, driver.delete, driver.touch):
        with pytest.raises(PathNotFound):
            op("v2/nothing/here")
    with pytest.raises(PathNotFound):
        driver.reader("v2/nothing")
    with pytest.raises(PathNotFound):
        driver.move("v2/nothing", "v2/else")


def test_stat_and_list(driver: StorageDriver) -> None:
    driver.put_content("v2/dir/x", b"12345")
    driver.put_content("v2/dir/sub/y", b"1")
    st = driver.stat("v2/dir/x")
    assert st.size == 5 and not st.is_dir
    assert driver.stat("v2/dir").is_dir
    assert driver.list("v2/dir") == ["sub", "x"]


def test_reader_offset(driver: StorageDriver) -> None:
    driver.put_content("v2/r", b"0123456789")
    with driver.reader("v2/r", 4) as f:
        assert f.read() == b"456789"


def test_atomic_writer_invisible_until_commit(driver: StorageDriver) -> None:
    w = driver.writer("v2/w")
    w.write(b"partial")
    with pytest.raises(PathNotFound):
        driver.get_content("v2/w")
    w.write(b" done")
    assert w.size == 12
    w.commit()
    assert driver.get_content("v2/w") == b"partial done"
    w2 = driver.writer("v2/w")
    w2.write(b"abandoned")
    w2.cancel()
    assert driver.get_content("v2/w") == b"partial done"
    assert driver.list("v2") == ["w"]  # no temporary files show


def test_append_writer(driver: StorageDriver) -> None:
    driver.put_content("v2/up/data", b"abc")
    w = driver.writer("v2/up/data", append=True)
    assert w.size == 3
    w.write(b"def")
    w.commit()
    assert driver.get_content("v2/up/data") == b"abcdef"


def test_append_writer_is_exclusive(driver: StorageDriver) -> None:
    driver.put_content("v2/up/data", b"")
    w = driver.writer("v2/up/data", append=True)
    try:
        with pytest.raises(PathBusy):
            driver.writer("v2/up/data", append=True)
    finally:
        w.commit()
    driver.writer("v2/up/data", append=True).cancel()


def test_move_and_delete_tree(driver: StorageDriver) -> None:
    driver.put_content("v2/src/f", b"x")
    driver.move("v2/src/f", "v2/dst/deep/f")
    assert driver.get_content("v2/dst/deep/f") == b"x"
    with pytest.raises(PathNotFound):
        driver.get_content("v2/src/f")
    driver.put_content("v2/dst/deep/g", b"y")
    driver.delete("v2/dst")
    with pytest.raises(PathNotFound):
        driver.stat("v2/dst/deep/g")


def test_touch_updates_mtime(driver: StorageDriver) -> None:
    driver.put_content("v2/t", b"x")
    before = driver.stat("v2/t").mtime
    local = driver.local_path("v2/t")
    if local is not None:
        os.utime(local, (before - 1000, before - 1000))
        before -= 1000
    else:
        time.sleep(1.1)  # object stores keep whole-second modification times
    driver.touch("v2/t")
    assert driver.stat("v2/t").mtime > before


@pytest.mark.parametrize("bad", ["/abs", "../x", "v2/../x", "v2//x", "", "v2/./x"])
def test_paths_cannot_escape(driver: StorageDriver, bad: str) -> None:
    with pytest.raises(ValueError, match="storage path"):
        driver.get_content(bad)


def test_concurrent_atomic_writes_never_tear(driver: StorageDriver) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(8)]

    def put(p: bytes) -> None:
        for _ in range(3):
            driver.put_content("v2/race", p)

    threads = [threading.Thread(target=put, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert driver.get_content("v2/race") in payloads


@pytest.mark.peer
@pytest.mark.slow
def test_s3_requests_are_signed(s3_endpoint: str) -> None:
    """The S3 store refuses unsigned or wrongly signed requests, so the signing above is really checked."""
    from ketch.registry.storage.driver import DriverError
    from ketch.registry.storage.driver.s3 import S3Driver

    endpoint = s3_endpoint
    with pytest.raises(DriverError, match="403"):
        S3Driver(endpoint, "conformance", access_key=S3_ACCESS_KEY, secret_key="wrong-secret")
    with pytest.raises(DriverError, match="403"):
        S3Driver(endpoint, "conformance")


def test_s3_driver_refuses_bad_settings() -> None:
    from ketch.registry.storage.driver.s3 import S3Driver

    with pytest.raises(ValueError, match="bucket name 'gc'"):
        S3Driver("http://127.0.0.1:15999", "gc", create_bucket=False)
    with pytest.raises(ValueError, match="endpoint"):
        S3Driver("ftp://127.0.0.1", "bucket", create_bucket=False)


def test_append_writer_many_writes_then_commit_without_sync(driver: StorageDriver) -> None:
    """Appends well past the filesystem driver's write-behind threshold keep every byte, in order, whether
    the writer is closed without a sync (an upload's chunk) or with one (its completion)."""
    driver.put_content("v2/up/data", b"")
    data = os.urandom(9 << 20)
    w = driver.writer("v2/up/data", append=True)
    for i in range(0, 6 << 20, 64 << 10):
        w.write(data[i : i + (64 << 10)])
    w.commit(durable=False)
    w = driver.writer("v2/up/data", append=True)
    assert w.size == 6 << 20
    w.write(data[6 << 20 :])
    w.commit(durable=True)
    assert driver.get_content("v2/up/data") == data
