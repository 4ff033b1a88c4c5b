"""Types shared by the image tests (the fixtures themselves are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from ketch.spec.image import Descriptor

MakeImage = Callable[..., Descriptor]
