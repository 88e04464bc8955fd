"""Click types for the numeric options, built from the one table of ranges (unicode_substrate.options).

Every integer or float option of every command is declared with :func:`ranged`, so a value
out of range is refused while the command line is read: one ``error:`` line naming the option
and its range, exit 2, before anything is loaded or written.
"""

from __future__ import annotations

import click

from unicode_substrate.errors import SubstrateError
from unicode_substrate.options import RANGES, check_range


class RangedType(click.ParamType):
    """An int or float option whose valid values are ``RANGES[key]``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.range = RANGES[key]
        self.name = "integer" if self.range.integer else "float"

    def get_metavar(self, param, ctx=None) -> str:  # click 8.2 passes ctx
        return "INTEGER" if self.range.integer else "FLOAT"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and self.range.contains(value)):
            return value
        base = click.INT if self.range.integer else click.FLOAT
        number = base.convert(value, param, ctx)
        try:
            return check_range(self.key, number, "the value")
        except SubstrateError:
            self.fail(f"{value} is out of range: it must be {self.range.describe(number)}", param, ctx)


def ranged(key: str) -> RangedType:
    """The click type of the option whose range is ``RANGES[key]``."""
    return RangedType(key)
