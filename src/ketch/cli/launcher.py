"""Replace the ``ketch-runtime``, ``ketch`` and ``ketchd`` console scripts with faster launchers.

pip's console scripts start Python with its ``site`` machinery (site-packages scan, .pth files) and the
current directory on sys.path: a few milliseconds that every call pays, and containerd and podman call the
runtime several times per container. A launcher starts the interpreter with ``-I -S`` and puts on sys.path
itself what the program needs: ketch's own directory, plus (for ``ketch`` and ``ketchd``, whose registry and
CRI parts use installed libraries) the site-packages directories this interpreter had when the launcher was
written. The runtime needs nothing outside the standard library. ``scripts/setup.sh`` runs this after
installing; ``pip install`` alone leaves the ordinary scripts, which work the same, only slower.

    python -m ketch.cli.launcher [BIN_DIR]
"""

from __future__ import annotations

import os
import sys

__all__ = ["PROGRAMS", "install", "install_all", "main"]

# script name -> (module with main(), whether it needs site-packages)
PROGRAMS: dict[str, tuple[str, bool]] = {
    "ketch-runtime": ("ketch.cli.runtime", False),
    "ketch": ("ketch.cli.main", True),
    "ketchd": ("ketch.cli.daemon", True),
}

_TEMPLATE = """#!{python} -IS
# Written by `python -m ketch.cli.launcher`: -IS (isolated, no site) skips the site machinery; sys.path is set here.
import sys
sys.path[:0] = {paths!r}
from {module} import main
{tail}"""

_EXIT = "sys.exit(main())\n"
# ketch-runtime leaves no thread, atexit handler or open file behind that needs the interpreter's
# finalisation (milliseconds of every call): flush the streams and exit at once.
_EXIT_AT_ONCE = """code = main()
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except OSError:
        pass
import os
os._exit(code)
"""


def _site_packages() -> list[str]:
    import site

    return [p for p in site.getsitepackages() if os.path.isdir(p)]


def install(bin_dir: str, python: str = sys.executable, name: str = "ketch-runtime") -> str:
    """Write the launcher ``bin_dir/name`` for ``python``; its path."""
    import ketch
    from ketch._common.atomicio import write_atomic

    module, needs_site = PROGRAMS[name]
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(ketch.__file__)))]
    if needs_site:
        paths += [p for p in _site_packages() if p not in paths]
    target = os.path.join(bin_dir, name)
    tail = _EXIT_AT_ONCE if name == "ketch-runtime" else _EXIT
    write_atomic(target, _TEMPLATE.format(python=python, paths=paths, module=module, tail=tail).encode(), 0o755)
    return target


def install_all(bin_dir: str, python: str = sys.executable) -> list[str]:
    return [install(bin_dir, python, name) for name in PROGRAMS]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    bin_dir = args[0] if args else os.path.dirname(sys.executable)
    for path in install_all(bin_dir):
        sys.stdout.write(f"installed {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
