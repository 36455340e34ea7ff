"""Callbacks for adversarial training."""

from __future__ import annotations

import logging
import math

import keras
import numpy as np

logger = logging.getLogger(__name__)


class TerminateOnNaNLosses(keras.callbacks.Callback):
    """Stops training as soon as any logged loss is NaN or infinite.

    Keras's `TerminateOnNaN` reads only `logs["loss"]`; adversarial models log
    one loss per player (`d_loss`, `g_loss`, ...). This callback checks every
    log whose name ends with `suffix`.

    Pass it to `fit`: `gan.fit(x, epochs=10, callbacks=[TerminateOnNaNLosses()])`.

    Args:
        suffix: Which logs to check, by the end of their name.

    Attributes:
        stopped_on: The name of the log that stopped training, or None.

    Examples:

    >>> import keras
    >>> from keras_mae.training import TerminateOnNaNLosses
    >>> callback = TerminateOnNaNLosses()
    >>> callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    >>> callback.on_train_batch_end(0, {"d_loss": 0.69, "g_loss": 0.7})
    >>> callback.stopped_on is None
    True
    >>> callback.on_train_batch_end(1, {"d_loss": 0.69, "g_loss": float("nan")})
    >>> callback.stopped_on, callback.model.stop_training
    ('g_loss', True)
    """

    def __init__(self, suffix: str = "loss"):
        super().__init__()
        self.suffix = suffix
        self.stopped_on: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        """Stops training if a log ending in `suffix` is not finite."""
        for name, value in (logs or {}).items():
            if not name.endswith(self.suffix):
                continue
            value = float(np.asarray(value))
            if not math.isfinite(value):
                self.stopped_on = name
                logger.warning(
                    "Batch %d: %s is %s; terminating training.", batch, name, value
                )
                self.model.stop_training = True
                return


class SetDatasetEpoch(keras.callbacks.Callback):
    """Tells a dataset which epoch `fit` is in, before the epoch's first batch.

    A dataset whose random choices are a function of its seed and the epoch
    (`keras_mae.datasets.ArrayBatches` and its subclasses) then serves the
    batches of that epoch, whether `fit` started at epoch 0 or resumed at
    epoch `k` from a `keras.callbacks.BackupAndRestore` backup (which sets
    the first epoch before `on_epoch_begin`). keras_mae models add it
    themselves when `fit` receives such a dataset or an array.

    The epoch is Keras's: a second `fit` call starts again at epoch 0 (and
    repeats the orders) unless it is given `initial_epoch`.

    Args:
        dataset: Any object with a `set_epoch(epoch: int)` method.

    Examples:

    ```python
    import keras, numpy as np
    from keras_mae.datasets import ArrayBatches
    from keras_mae.training import SetDatasetEpoch
    batches = ArrayBatches(np.zeros((10, 2), "float32"), batch_size=4, seed=0)
    callback = SetDatasetEpoch(batches)
    callback.on_epoch_begin(3)
    assert batches.epoch == 3
    ```
    """

    def __init__(self, dataset):
        super().__init__()
        if not callable(getattr(dataset, "set_epoch", None)):
            raise TypeError(
                "SetDatasetEpoch expects a dataset with a `set_epoch(epoch)` "
                f"method (e.g. keras_mae.datasets.ArrayBatches); received "
                f"{type(dataset).__name__}."
            )
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        """Calls `dataset.set_epoch(epoch)`."""
        self.dataset.set_epoch(int(epoch))
