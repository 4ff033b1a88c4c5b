"""A throwaway self-signed certificate for 127.0.0.1 (TLS registries in tests), made with openssl(1)."""

from __future__ import annotations

import os
import subprocess

__all__ = ["self_signed_cert"]


def self_signed_cert(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> None:
    """Write a one-day RSA certificate for CN and IP SAN 127.0.0.1 to ``cert`` and its key to ``key``."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", os.fspath(key),
         "-out", os.fspath(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
