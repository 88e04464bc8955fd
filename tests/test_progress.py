"""The shared progress display: plain lines in a log (5 % marks, at least every 30 s), a bar on a terminal."""

from __future__ import annotations

import io

from unicode_substrate.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_at_every_5_percent_mark_even_with_uneven_updates():
    out = io.StringIO()
    p = Progress(1000, "eval", unit="item", stream=out, every_s=1e9)
    for n in (7, 30, 13, 200, 1, 749):  # jumps over several marks at once: one line, not one per mark
        p.update(n)
    lines = out.getvalue().splitlines()
    # 7 and 37: below the first mark; 50 crosses 5 %; 250 crosses 10-25 % (one line); 251: no mark; 1000: the end
    assert [ln.rsplit(", ", 1)[0] for ln in lines] == [
        "eval: item 50/1,000 (5 %)", "eval: item 250/1,000 (25 %)", "eval: item 1,000/1,000 (100 %)"], lines


def test_a_line_at_least_every_interval_between_marks(monkeypatch):
    import unicode_substrate.progress as mod

    clock = [0.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    p = Progress(10_000, "train", stream=out)
    for _ in range(3):  # far below a 5 % mark, but 31 s apart
        clock[0] += 31.0
        p.update(1)
    assert len(out.getvalue().splitlines()) == 3
    assert out.getvalue().splitlines()[-1].startswith("train: step 3/10,000 (0 %), 93 s")


def test_unknown_total_reports_the_final_count_on_close():
    out = io.StringIO()
    with Progress(None, "tokenizing", unit="bytes", stream=out, every_s=1e9) as p:
        p.update(1234)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenizing: 1,234 bytes, "), lines


def test_a_terminal_gets_a_labelled_bar_not_lines():
    out = _Tty()
    with Progress(10, "stage 2/3", stream=out) as p:
        assert p.bar is not None and not p.lines
        p.update(10)
    assert "stage 2/3" in out.getvalue() and "\r" in out.getvalue()
