"""The one exception type the CLI turns into a one-line error message."""

from __future__ import annotations


class SubstrateError(Exception):
    """A user-facing error: bad input, a failed verification, a refused overwrite.

    The CLI prints ``error: <message>`` on one line and exits with status 2; library
    callers catch it like any exception. The message must make sense on its own and speaks
    of values, not of command-line flags: ``param`` names the function parameter the error
    concerns (e.g. ``"table"``, or several), and the CLI adds the option that sets it, once, in one place.
    """

    def __init__(self, message: str, param: str | tuple[str, ...] | None = None):
        super().__init__(message)
        self.param = param
