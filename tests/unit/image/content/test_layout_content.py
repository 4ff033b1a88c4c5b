"""The OCI-layout-backed content store against the same ContentStore contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from content_conformance import ContentStoreConformance, digest_of

from ketch.image.content import write_blob
from ketch.image.layout import LayoutContentStore


class TestLayoutContentStore(ContentStoreConformance):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> None:
        self.store = LayoutContentStore(str(tmp_path / "layout"))


def test_blobs_land_where_image_layout_says(tmp_path: Path) -> None:
    store = LayoutContentStore(str(tmp_path))
    d = write_blob(store, b"{}", digest_of(b"{}")).digest
    assert (tmp_path / "blobs" / "sha256" / d.hex).read_bytes() == b"{}"
    store.tidy()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs"]
