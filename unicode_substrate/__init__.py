"""unicode-substrate: frozen visual-Unicode embedding substrates for language models.

The public objects load on first use (``from unicode_substrate import Run``), so ``import
unicode_substrate`` and ``substrate --help`` stay instant and import no torch. Each lives in
the module named in ``_PUBLIC``; everything the CLI does is one of these calls.
"""

from __future__ import annotations

import importlib

from unicode_substrate._version import __version__

# public name -> module that defines it (a module named like its only public object is the object)
_PUBLIC: dict[str, str] = {
    "SubstrateError": "unicode_substrate.errors",
    "Tokenizer": "unicode_substrate.tokenizer",
    "build_tokenizer": "unicode_substrate.tokenizer",
    "tokenizer_stats": "unicode_substrate.tokenizer.stats",
    "render_table": "unicode_substrate.render",
    "load_table": "unicode_substrate.table",
    "as_embedding": "unicode_substrate.table",
    "ModelConfig": "unicode_substrate.model",
    "get_preset": "unicode_substrate.model",
    "GPT": "unicode_substrate.model",
    "prepare": "unicode_substrate.data.prepare",
    "TrainConfig": "unicode_substrate.train",
    "load_config": "unicode_substrate.train",
    "Run": "unicode_substrate.run",
    "evaluate": "unicode_substrate.eval",
    "evaluate_data": "unicode_substrate.eval.data_score",
    "compare": "unicode_substrate.experiments.compare",
    "Variant": "unicode_substrate.experiments.compare",
    "grow": "unicode_substrate.experiments.grow",
    "GrowConfig": "unicode_substrate.experiments.grow",
    "load_grow_config": "unicode_substrate.experiments.grow",
    "fuse": "unicode_substrate.experiments.fuse",
    "plot_runs": "unicode_substrate.experiments.plot",
}

# ``train`` is the training package itself, callable as the training loop (train/__init__.py):
# a package attribute of that name would be replaced by the subpackage as soon as it is imported.
__all__ = ["__version__", "train", *_PUBLIC]


def __getattr__(name: str):
    if name == "train":
        return importlib.import_module("unicode_substrate.train")
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'unicode_substrate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
