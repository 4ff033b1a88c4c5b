"""``ketch``: the user's command line."""

from __future__ import annotations

import sys

USAGE = """usage: ketch [--version] COMMAND [ARGS...]

Commands arrive as their parts land; today:
  version     print the version
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if args[0] in ("version", "--version"):
        from ketch import __version__

        sys.stdout.write(f"ketch version {__version__}\n")
        return 0
    sys.stderr.write(f"ketch: unknown command {args[0]!r} (not implemented yet); see 'ketch --help'\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
