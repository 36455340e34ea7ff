"""Callbacks for adversarial training."""

from __future__ import annotations

import logging
import math

import keras
import numpy as np

from keras_mae.utils.argument_checks import check_int, check_number

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


class ReseedDeadComponents(keras.callbacks.Callback):
    """Re-seeds mixture components that (almost) no sample is assigned to.

    At the end of every epoch it reads the logged `usage_k` (the share of the
    epoch's samples assigned to component k). A component below
    `threshold / K` at the end of `patience` epochs in a row is dead: the
    busiest component is split in two and one half given to it
    (`MixtureAutoencoder.reseed_component`, on up to `max_samples` samples
    of `x`). The patience lets the balance terms revive a component first:
    on the 8x8 digits, components often start below the threshold in the
    first epoch and recover by themselves, and re-seeding them then hurt in
    an exploration (docs/benchmarks.md). It adds `reseeded` to the epoch's
    logs (and so to the history): how many components it re-seeded.

    Args:
        x: Training samples (an array) to split components with.
        threshold: Share of a fair `1 / K` below which a component is dead.
        patience: Epochs in a row a component must stay below it.
        max_samples: At most this many samples of `x` are used (drawn once).
        seed: Seed of the sample draw and of the splits.
        verbose: 1 prints each re-seeding, 0 only logs it.

    Attributes:
        events: `(epochs seen, dead component, split component, samples it
            got)` of every re-seeding; epochs are counted across `fit` calls,
            from 1.

    Examples:

    ```python
    mae.fit(x, epochs=30, callbacks=[ReseedDeadComponents(x)])
    ```
    """

    def __init__(
        self,
        x,
        threshold: float = 0.2,
        patience: int = 3,
        max_samples: int = 10000,
        seed: int | None = None,
        verbose: int = 1,
    ):
        super().__init__()
        threshold = check_number(
            "ReseedDeadComponents",
            "threshold",
            threshold,
            0.0,
            1.0,
            include_minimum=False,
            what="a share of the fair 1 / K",
        )
        patience = check_int("ReseedDeadComponents", "patience", patience)
        max_samples = check_int("ReseedDeadComponents", "max_samples", max_samples, 2)
        if not hasattr(x, "shape") or len(x) < 2:
            raise ValueError(
                "ReseedDeadComponents expects `x` to be an array of at least 2 "
                f"samples; received {type(x).__name__}."
            )
        self._rng = np.random.default_rng(seed)
        if len(x) > max_samples:
            x = x[np.sort(self._rng.choice(len(x), max_samples, replace=False))]
        self.x = x
        self.threshold = float(threshold)
        self.patience = patience
        self.verbose = verbose
        self.events: list[tuple[int, int, int, int]] = []
        self._epochs_seen = 0  # across `fit` calls, unlike Keras's `epoch`
        self._low_epochs: dict[int, int] = {}  # component: epochs in a row

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_seen += 1
        logs = logs if logs is not None else {}
        usage = []
        while f"usage_{len(usage)}" in logs:
            usage.append(float(np.asarray(logs[f"usage_{len(usage)}"])))
        if len(usage) < 2:
            return
        logs["reseeded"] = 0  # History and the progress bar come after us
        limit = self.threshold / len(usage)
        for k, share in enumerate(usage):
            self._low_epochs[k] = self._low_epochs.get(k, 0) + 1 if share < limit else 0
        dead = [k for k in range(len(usage)) if self._low_epochs[k] >= self.patience]
        sources = [int(k) for k in np.argsort(usage)[::-1] if usage[k] >= 2 * limit]
        for component, source in zip(dead, sources, strict=False):
            moved = self.model.reseed_component(
                component, source, self.x, seed=int(self._rng.integers(2**31))
            )
            self._low_epochs[component] = 0
            self.events.append((self._epochs_seen, component, source, moved))
            logs["reseeded"] += 1
            message = (
                f"Epoch {epoch + 1}: component {component} had under {limit:.4f} "
                f"of the samples for {self.patience} epochs ({usage[component]:.4f} "
                f"in the last); split component {source} ({usage[source]:.4f}) and "
                f"gave it {moved} of {len(self.x)} samples."
            )
            logger.info(message)
            if self.verbose:
                print(message)
