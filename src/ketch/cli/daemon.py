"""``ketchd``: the CRI server."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--version", "version"):
        from ketch import __version__

        sys.stdout.write(f"ketchd version {__version__}\n")
        return 0
    sys.stderr.write("ketchd: the CRI server is not implemented yet\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
