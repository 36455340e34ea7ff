"""Train a model from several random starts and keep the one with the lowest loss."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Mapping

import keras
import numpy as np

from keras_mae.utils.argument_checks import check_int

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RestartResult:
    """What `best_of_restarts` returns.

    Examples:

    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> from keras_mae.training import best_of_restarts
    >>> def build(seed):
    ...     model = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=seed)
    ...     model.compile()
    ...     return model
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> result = best_of_restarts(build, x, restarts=2, batch_size=64, verbose=0)
    >>> result.seed in result.scores, sorted(result.scores)
    (True, [0, 1])
    >>> result.model.seed == result.seed, len(result.history.history["loss"])
    (True, 1)

    Attributes:
        model: The trained model with the lowest final `monitor` value.
        seed: The seed it was built and trained with.
        history: Its `keras.callbacks.History` (with `screen_epochs`, the
            screening and the continued epochs together).
        scores: The final `monitor` value of every restart, by seed (NaN for
            a restart whose value was not finite); with `screen_epochs`, the
            value at the end of the screening epochs, which chose.
    """

    model: keras.Model
    seed: int
    history: keras.callbacks.History
    scores: dict[int, float]


@contextlib.contextmanager
def _final_stage_deferred(model: keras.Model, defer: bool):
    """Turns off, for the block, what a model does when a `fit` ends.

    A `MixtureAutoencoder` relabels its samples when `fit` ends
    (`self_labeling`); a screening `fit` that another one continues must
    not, or the continued run would not train as one `fit` does.
    """
    saved = getattr(model, "self_labeling", None)
    if not defer or saved is None:
        yield
        return
    model.self_labeling = None
    try:
        yield
    finally:
        model.self_labeling = saved


def _final_value(history: keras.callbacks.History, monitor: str, seed: int) -> float:
    values = history.history.get(monitor)
    if not values:
        raise ValueError(
            f"best_of_restarts monitors {monitor!r}, but the training of seed "
            f"{seed} logged only {sorted(history.history)}. Pass one of those "
            "as `monitor` (e.g. 'val_loss' needs validation data)."
        )
    return float(np.asarray(values[-1]))


def best_restart_seed(scores: Mapping[int, float]) -> int | None:
    """The seed whose final value is lowest: the rule of `best_of_restarts`.

    Values that are not finite never win; of equal values the first wins.
    Also useful to choose among restarts trained in separate processes
    (`benchmarks/combine_restarts.py`).

    Args:
        scores: The final monitored value of each restart, by seed, in the
            order the restarts ran.

    Returns:
        The chosen seed, or `None` when no value is finite.

    Examples:

    >>> from keras_mae.training import best_restart_seed
    >>> best_restart_seed({0: -11.25, 1: -11.22, 2: float("nan")})
    0
    >>> best_restart_seed({3: float("nan")}) is None
    True
    """
    best, best_value = None, math.inf
    for seed, value in scores.items():
        value = float(value)
        if math.isfinite(value) and (best is None or value < best_value):
            best, best_value = seed, value
    return best


def best_of_restarts(
    build_model: Callable[[int], keras.Model],
    x=None,
    restarts: int = 3,
    seed: int = 0,
    monitor: str = "loss",
    on_restart: Callable[[keras.Model, int, keras.callbacks.History], None]
    | None = None,
    screen_epochs: int | None = None,
    **fit_kwargs,
) -> RestartResult:
    """Trains `restarts` models from different seeds; keeps the lowest final loss.

    Clustering objectives have local minima that depend on the random start
    (scikit-learn's `KMeans(n_init=...)` restarts for the same reason). For a
    `MixtureAutoencoder` on MNIST the typical one is two components that share
    two look-alike digits, split by handwriting style; its final training loss
    is higher than that of the runs that separate the digits
    (docs/benchmarks.md), so the lowest loss picks a better model without
    looking at labels.

    Restart `r` sets Keras's global seeds with
    `keras.utils.set_random_seed(seed + r)`, builds a model with
    `build_model(seed + r)` and trains it with `model.fit(x, **fit_kwargs)`.
    The final value of `monitor` (the mean over the last epoch) decides;
    restarts whose value is not finite are never chosen. Only the best model
    is kept: the others are dropped as soon as a better one is found.

    With `screen_epochs=E`, every restart trains only its first E epochs, the
    value of `monitor` after them decides, and only the chosen model goes on
    to `epochs` (a second `fit` with `initial_epoch=E`, so epoch numbers,
    optimizer state and learning-rate schedules continue; callbacks that
    `fit` builds start afresh). A keras_mae model given an array serves
    epoch `e`'s batches (and a `MixtureAutoencoder` its neighbour partners)
    by its seed and `e`, and keeps its other state (noise, augmentation,
    re-seeding counters) in the model, and its self-labelling waits for the
    last `fit`, so the continued run trains as a straight one would: the
    same weights on PyTorch (tested). R restarts
    then cost `R * E + (epochs - E)` epochs instead of `R * epochs`. Use it
    when the ranking of the losses is settled early: for the 2026-11 default
    `MixtureAutoencoder` on MNIST ((512, 256), 50 epochs) the runs that separate every
    digit had the lowest loss of fifteen from epoch 25 on, not yet at epoch
    20 (docs/benchmarks.md).

    Args:
        build_model: `f(seed) -> keras.Model`, returning a compiled model.
        x: The training data, passed to `fit`.
        restarts: How many models to train, at least 1.
        seed: Seed of the first restart; restart `r` uses `seed + r`.
        monitor: The logged value to minimise, e.g. `"loss"` or `"val_loss"`.
        on_restart: Optional `f(model, seed, history)` called after every
            restart (e.g. to score or save each one); with `screen_epochs`,
            after its screening epochs.
        screen_epochs: Optional number of epochs, fewer than `epochs`, after
            which the restarts are compared and all but the best stop.
        **fit_kwargs: Passed to `fit` (`epochs`, `batch_size`, ...).

    Returns:
        A `RestartResult` with the best model, its seed, its history and the
        final `monitor` value of every restart.

    Raises:
        RuntimeError: If no restart ended with a finite value.

    Examples:

    Two restarts of a small model for one epoch each (`screen_epochs=1`:
    only the better one then trains on, to `epochs=2`):

    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> from keras_mae.training import best_of_restarts
    >>> def build(seed):
    ...     model = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=seed)
    ...     model.compile()
    ...     return model
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> result = best_of_restarts(
    ...     build, x, restarts=2, screen_epochs=1, epochs=2, batch_size=64, verbose=0
    ... )
    >>> sorted(result.scores)  # the loss of each restart after its first epoch
    [0, 1]
    >>> len(result.history.history["loss"])  # the chosen one's two epochs
    2
    >>> result.model.predict_clusters(x).shape
    (256,)
    """
    if not callable(build_model):
        raise TypeError(
            "best_of_restarts expects `build_model` to be a callable "
            f"`f(seed) -> keras.Model`; received {type(build_model).__name__}."
        )
    restarts = check_int("best_of_restarts", "restarts", restarts)
    seed = int(seed)
    screen_kwargs = fit_kwargs
    if screen_epochs is not None:
        epochs = fit_kwargs.get("epochs", 1)
        if "initial_epoch" in fit_kwargs:
            raise ValueError(
                "best_of_restarts with `screen_epochs` trains from epoch 0; "
                f"received initial_epoch={fit_kwargs['initial_epoch']}."
            )
        screen_epochs = check_int(
            "best_of_restarts", "screen_epochs", screen_epochs, maximum=epochs
        )
        screen_kwargs = {**fit_kwargs, "epochs": screen_epochs}
    best: RestartResult | None = None
    scores: dict[int, float] = {}
    for restart_seed in range(seed, seed + restarts):
        keras.utils.set_random_seed(restart_seed)
        model = build_model(restart_seed)
        if not isinstance(model, keras.Model):
            raise TypeError(
                "best_of_restarts expects `build_model` to return a keras.Model; "
                f"received {type(model).__name__}."
            )
        if not model.compiled:
            raise ValueError(
                "best_of_restarts expects `build_model` to return a compiled "
                "model: call `model.compile(...)` in it."
            )
        with _final_stage_deferred(model, screen_epochs is not None):
            history = model.fit(x, **screen_kwargs)
        value = _final_value(history, monitor, restart_seed)
        scores[restart_seed] = value if math.isfinite(value) else math.nan
        logger.info("Restart with seed %d: final %s %s", restart_seed, monitor, value)
        if on_restart is not None:
            on_restart(model, restart_seed, history)
        if best_restart_seed(scores) == restart_seed:
            best = RestartResult(model, restart_seed, history, scores)
        del model, history
    if best is None:
        raise RuntimeError(
            f"best_of_restarts: no restart ended with a finite {monitor!r} "
            f"({scores}); lower the learning rate or check the data."
        )
    if screen_epochs is not None:
        logger.info("Seed %d goes on after screening.", best.seed)
        rest = best.model.fit(x, initial_epoch=screen_epochs, **fit_kwargs)
        best.history = _joined(best.history, rest)
    return best


def _joined(
    first: keras.callbacks.History, then: keras.callbacks.History
) -> keras.callbacks.History:
    """One History of a training split into two `fit` calls."""
    history = keras.callbacks.History()
    history.set_model(then.model)
    history.params = then.params
    history.epoch = list(first.epoch) + list(then.epoch)
    history.history = {
        key: list(first.history.get(key, [])) + list(then.history.get(key, []))
        for key in {**first.history, **then.history}
    }
    return history
