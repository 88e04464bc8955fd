"""The frozen-substrate Transformer: ``ModelConfig``, presets and ``GPT``.

``GPT`` (which imports torch) loads on first use, so ``unicode_substrate.model.config`` (the
presets) stays importable by the CLI without torch.
"""

from unicode_substrate.model.config import PRESETS, ModelConfig, get_preset

__all__ = ["GPT", "ModelConfig", "PRESETS", "get_preset"]


def __getattr__(name: str):
    if name == "GPT":
        from unicode_substrate.model.gpt import GPT

        return GPT
    raise AttributeError(f"module 'unicode_substrate.model' has no attribute {name!r}")
