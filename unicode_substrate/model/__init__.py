"""The frozen-substrate Transformer: ``ModelConfig``, presets and ``GPT``."""

from unicode_substrate.model.config import PRESETS, ModelConfig, get_preset
from unicode_substrate.model.gpt import GPT

__all__ = ["GPT", "ModelConfig", "PRESETS", "get_preset"]
