"""Benchmark evaluation of a trained run or a Hugging Face causal LM on local benchmark files.

``tasks`` reads the benchmark files in the forms they are distributed in, ``prompts`` holds the
paper's templates, ``paper`` and ``loglik`` are the two scoring protocols, ``models`` wraps a run
(and ``hf`` a transformers model) behind one small interface, ``report`` writes the eval
directory, and ``evaluate`` (in ``runner``) ties them together.
"""

from __future__ import annotations

__all__ = ["evaluate"]


def evaluate(*args, **kwargs):
    """See :func:`unicode_substrate.eval.runner.evaluate`."""
    from unicode_substrate.eval.runner import evaluate as run

    return run(*args, **kwargs)
