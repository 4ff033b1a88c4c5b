"""Progress output: plain lines for pipes and logs, a redrawn block with rate and ETA on a terminal."""

from __future__ import annotations

import io

from ketch.registry.client import LineProgress, NullProgress, TerminalProgress, make_progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_one_per_blob() -> None:
    out = io.StringIO()
    p = LineProgress(out)
    p.start("a", "aaaaaaaaaaaa", 2_000_000)
    p.advance("a", 1_000_000)
    p.advance("a", 1_000_000)
    p.start("b", "bbbbbbbbbbbb", 10)
    p.finish("b", "already present")
    p.finish("a", "downloaded")
    lines = out.getvalue().splitlines()
    assert lines[0] == "bbbbbbbbbbbb: already present (10B)"
    assert lines[1].startswith("aaaaaaaaaaaa: downloaded (2.0MB ") and lines[1].endswith("/s)")


def test_terminal_redraws_with_rate_and_eta() -> None:
    out = _Tty()
    p = TerminalProgress(out)
    p.start("a", "layer-a", 1_000_000)
    p.advance("a", 250_000)
    p.close()
    text = out.getvalue()
    assert "\x1b[2K" in text and "layer-a: 250.0kB/1.0MB  25%" in text and "ETA" in text
    p.finish("a", "downloaded")
    assert out.getvalue().rstrip().endswith("layer-a: downloaded (1.0MB)")


def test_choice_of_renderer() -> None:
    assert isinstance(make_progress(quiet=True, out=_Tty()), NullProgress)
    assert isinstance(make_progress(out=_Tty()), TerminalProgress)
    assert type(make_progress(out=io.StringIO())) is LineProgress
