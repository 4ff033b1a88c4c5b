"""``ketchd``: the Kubernetes CRI (runtime.v1) server.

    ketchd --listen unix:///run/ketchd/ketchd.sock --root /var/lib/ketchd --state /run/ketchd \\
           [--config /etc/ketch/ketchd.toml] [--log-level info]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

__all__ = ["main"]


def _runtime_default_seccomp(caps: list[str]) -> dict[str, Any]:
    # The CLI may import the runtime; the cri package may not, so the profile is handed in from here.
    from ketch.runtime.seccomp import runtime_default_profile

    return runtime_default_profile(caps)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ketchd", description="Kubernetes CRI server driving OCI runtimes")
    p.add_argument("--listen", default="unix:///run/ketchd/ketchd.sock", help="unix:///PATH of the gRPC socket")
    p.add_argument("--root", default="/var/lib/ketchd", help="persistent data (images, CNI state)")
    p.add_argument("--state", default="/run/ketchd", help="runtime state (pods, containers, bundles)")
    p.add_argument("--config", default=None, help="TOML configuration file")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        from ketch import __version__

        sys.stdout.write(f"ketchd version {__version__}\n")
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="ketchd %(levelname)s %(message)s")
    from ketch.cri.config import load_config
    from ketch.cri.errors import CriError
    from ketch.cri.server import serve

    try:
        config = load_config(args.config, args.root, args.state)
        from ketch.cri.registry_pull import RegistryPuller
        from ketch.registry.client import SessionOptions

        puller = RegistryPuller(SessionOptions(hosts_dir=config.registry_hosts_dir or None,
                                               auth_file=config.registry_auth_file or None))
        asyncio.run(serve(config, args.listen, puller=puller, runtime_default_seccomp=_runtime_default_seccomp))
    except CriError as e:
        sys.stderr.write(f"ketchd: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
