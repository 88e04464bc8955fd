"""Training on a frozen substrate: token data, the trainer, checkpoints, comparisons and sampling.

Heavy modules (torch) are imported by the functions that need them, so importing this package is cheap.
"""

from unicode_substrate.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
