"""The training loop on a frozen substrate: configuration, token data, the trainer, distributed set-up, init sources.

Heavy modules (torch) are imported by the functions that need them, so importing this package is cheap.
"""

from unicode_substrate.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
