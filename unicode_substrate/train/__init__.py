"""The training loop on a frozen substrate: configuration, token data, the trainer, distributed set-up, init sources.

Heavy modules (torch) are imported by the functions that need them, so importing this package is cheap.
The package is callable as the training loop: ``from unicode_substrate import train; train(cfg, data, out)``
is ``unicode_substrate.train.trainer.train`` (a package attribute named ``train`` could not be the
function: Python sets it to this subpackage whenever the subpackage is imported).
"""

import sys
import types

from unicode_substrate.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]


class _Callable(types.ModuleType):
    def __call__(self, *args, **kwargs):
        """See :func:`unicode_substrate.train.trainer.train`."""
        from unicode_substrate.train.trainer import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _Callable
