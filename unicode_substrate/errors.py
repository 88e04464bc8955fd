"""The one exception type the CLI turns into a one-line error message."""

from __future__ import annotations


class SubstrateError(Exception):
    """A user-facing error: bad input, a failed verification, a refused overwrite.

    The CLI prints ``error: <message>`` on one line and exits with status 2; library
    callers catch it like any exception. The message must make sense on its own.
    """
