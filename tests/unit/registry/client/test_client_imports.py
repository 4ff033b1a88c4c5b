"""Importing the client pulls in no server code, no image code and no aiohttp."""

from __future__ import annotations

import subprocess
import sys


def test_client_import_is_free_of_server_and_image_code() -> None:
    code = (
        "import sys, ketch.registry.client\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('ketch.registry.server', 'ketch.registry.storage',"
        " 'ketch.image', 'aiohttp', 'ketch.cli')))\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
