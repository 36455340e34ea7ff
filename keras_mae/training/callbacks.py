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

    Args:
        suffix: Which logs to check, by the end of their name.

    Examples:

    ```python
    gan.fit(images, epochs=10, callbacks=[TerminateOnNaNLosses()])
    ```
    """

    def __init__(self, suffix: str = "loss"):
        super().__init__()
        self.suffix = suffix
        self.stopped_on: str | None = None

    def on_train_batch_end(self, batch, logs=None):
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
