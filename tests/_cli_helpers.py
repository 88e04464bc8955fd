"""Running the CLI in-process and checking the one-line error contract, shared by the CLI tests."""

from __future__ import annotations

from click.testing import CliRunner

from unicode_substrate.cli import main


def run_cli(*args):
    """``substrate ARGS...`` through click's runner; every argument is turned into a string."""
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> str:
    """Assert exit 2 with exactly one non-blank output line ``error: ...`` holding every fragment; return it."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]
