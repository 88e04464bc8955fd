"""One kernel launch as data: what the launchers run and what the ahead-of-time compile checks.

Each launcher builds a :class:`Launch` from its tensors with a pure function (shapes and strides
in, kernel, grid, arguments and constexprs out) and then calls it. ``kernels/aot.py`` calls the
same functions on meta tensors of the paper's shapes and compiles what they return for GPUs that
need not be present, so the compile test cannot drift from what runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Launch(NamedTuple):
    """A @triton.jit kernel, its grid, positional arguments and keyword constexprs/options."""

    kernel: Any
    grid: tuple[int, ...]
    args: tuple
    kwargs: dict

    def __call__(self) -> None:
        self.kernel[self.grid](*self.args, **self.kwargs)
