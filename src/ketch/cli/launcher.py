"""Replace the ``ketch-runtime`` console script with a faster launcher.

pip's console scripts start Python with its ``site`` machinery (site-packages scan, .pth files), a few
milliseconds that every runtime call pays; containerd and podman call the runtime several times per
container. The launcher starts the interpreter with ``-I -S`` and puts ketch's own directory on sys.path
itself: the runtime needs nothing outside the standard library. ``scripts/setup.sh`` runs this after
installing; ``pip install`` alone leaves the ordinary script, which works the same, only slower.

    python -m ketch.cli.launcher [BIN_DIR]
"""

from __future__ import annotations

import os
import sys

__all__ = ["install", "main"]

_TEMPLATE = """#!{python} -IS
# Written by `python -m ketch.cli.launcher`: -IS (isolated, no site) skips site-packages, which ketch-runtime does not need.
import sys
sys.path.insert(0, {path!r})
from ketch.cli.runtime import main
sys.exit(main())
"""


def install(bin_dir: str, python: str = sys.executable) -> str:
    import ketch

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(ketch.__file__)))
    target = os.path.join(bin_dir, "ketch-runtime")
    from ketch._common.atomicio import write_atomic

    write_atomic(target, _TEMPLATE.format(python=python, path=package_parent).encode(), 0o755)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    bin_dir = args[0] if args else os.path.dirname(sys.executable)
    sys.stdout.write(f"installed {install(bin_dir)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
