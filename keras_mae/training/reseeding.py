"""Re-seeding dead mixture components: the surgery, and the callback that calls it."""

from __future__ import annotations

import logging

import keras
import numpy as np
from sklearn.cluster import KMeans

from keras_mae.training.warm_start import fit_assignment
from keras_mae.utils.argument_checks import check_int, check_number

logger = logging.getLogger(__name__)


def reseed_component(
    model,
    target: int,
    source: int,
    x,
    steps: int = 200,
    batch_size: int = 256,
    seed: int | None = None,
) -> int:
    """Replaces component `target` of a mixture model by half of `source`.

    The cure for a dead component (one no sample is assigned to): the samples
    of `x` assigned to `source` are split in two by 2-means on their `source`
    codes; `target` gets a copy of `source`'s networks
    (`model.copy_component`), and the assignment network is trained for
    `steps` steps on `x` (cross-entropy, Adam 1e-3) to keep every sample's
    component except one half of `source`'s, which moves to `target`.
    Training then lets the two autoencoders part. Every random choice (the
    2-means start, the batch order) comes from `seed`, so a resumed run
    re-seeds the same way.

    Args:
        model: A built `keras_mae.models.MixtureAutoencoder` (anything with
            `num_components`, `encode`, `copy_component`, `assignment` and
            `predict_clusters`).
        target: The component to replace (usually a dead one).
        source: The component to split (usually the busiest).
        x: Samples to split and to train the assignment network on.
        steps: Steps of assignment training (whole epochs over `x`, at least
            this many steps).
        batch_size: Its batch size.
        seed: Seed of the split and of the batch order.

    Returns:
        How many samples of `x` `target` now holds.

    Examples:

    >>> import keras, numpy as np
    >>> from keras_mae.models import MixtureAutoencoder
    >>> from keras_mae.training import reseed_component
    >>> keras.utils.set_random_seed(0)  # repeatable initial weights
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> mae = MixtureAutoencoder(3, 2, input_shape=(5,), hidden_units=(16,), seed=0)
    >>> mae.compile()
    >>> counts = np.bincount(mae.predict_clusters(x), minlength=3)
    >>> source, target = int(counts.argmax()), int(counts.argmin())
    >>> moved = reseed_component(mae, target, source, x, 20, batch_size=64, seed=0)
    >>> moved > 0  # the emptier component holds samples now
    True
    """
    owner = "reseed_component"
    num_components = model.num_components
    target = check_int(owner, "target", target, 0, num_components)
    source = check_int(owner, "source", source, 0, num_components)
    steps = check_int(owner, "steps", steps)
    batch_size = check_int(owner, "batch_size", batch_size)
    if target == source:
        raise ValueError(
            f"{owner} expects two different components; received {target} twice."
        )
    codes, probabilities = model.encode(x, batch_size)
    labels = np.argmax(probabilities, axis=-1)
    members = np.flatnonzero(labels == source)
    if len(members) < 2:
        raise ValueError(
            f"{owner} needs at least 2 samples of `x` in component {source} to "
            f"split; it holds {len(members)}."
        )
    rng = np.random.default_rng(seed)
    halves = KMeans(2, n_init=3, random_state=int(rng.integers(2**31))).fit_predict(
        codes[members, source]
    )
    labels[members[halves == 1]] = target
    model.copy_component(source, target)
    fit_assignment(model, x, labels, steps, batch_size, seed=rng)
    return int(np.sum(model.predict_clusters(x, batch_size) == target))


class ReseedDeadComponents(keras.callbacks.Callback):
    """Re-seeds mixture components that (almost) no sample is assigned to.

    At the end of every epoch it reads the logged `usage_k` (the share of the
    epoch's samples assigned to component k). A component below
    `threshold / K` at the end of `patience` epochs in a row is dead: the
    busiest component is split in two and one half given to it
    (`reseed_component`, on up to `max_samples` samples of `x`). The patience
    lets the balance terms revive a component first: on the 8x8 digits,
    components often start below the threshold in the first epoch and
    recover by themselves, and re-seeding them then hurt in an exploration
    (docs/benchmarks.md). It adds `reseeded` to the epoch's logs (and so to
    the history): how many components it re-seeded.

    Put it (and any other callback that changes the model at an epoch's
    end) before a `keras.callbacks.BackupAndRestore`, so the backup holds
    the epoch's changes; `fit` puts the one it adds first. The
    epochs-in-a-row counters live in the model (`reseed_counters`, saved
    with its weights and so with a `keras.callbacks.BackupAndRestore`
    backup), and each split is seeded by `seed` and the epoch, so a run that
    is killed and resumed re-seeds exactly as an uninterrupted one.

    Args:
        x: Training samples (an array) to split components with.
        threshold: Share of a fair `1 / K` below which a component is dead.
        patience: Epochs in a row a component must stay below it.
        max_samples: At most this many samples of `x` are used (drawn once).
        seed: Seed of the sample draw and of the splits.
        verbose: 1 prints each re-seeding, 0 only logs it.

    Attributes:
        events: `(epoch, dead component, split component, samples it got)` of
            every re-seeding, with Keras's epoch numbers counted from 1.

    Examples:

    `MixtureAutoencoder.fit` on an array adds one itself (with
    `reseed_threshold`); given one, it uses that instead:

    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> from keras_mae.training import ReseedDeadComponents
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> mae = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=0)
    >>> mae.compile()
    >>> reseeding = ReseedDeadComponents(x, patience=5, seed=0, verbose=0)
    >>> history = mae.fit(x, batch_size=64, callbacks=[reseeding], verbose=0)
    >>> history.history["reseeded"], reseeding.events  # none dead for 5 epochs yet
    ([0], [])
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
        if seed is None:
            seed = np.random.SeedSequence().entropy  # drawn once: not repeatable
        self.seed = int(seed) % 2**31
        if len(x) > max_samples:
            rng = np.random.default_rng(self.seed)
            x = x[np.sort(rng.choice(len(x), max_samples, replace=False))]
        self.x = x
        self.threshold = float(threshold)
        self.patience = patience
        self.verbose = verbose
        self.events: list[tuple[int, int, int, int]] = []

    def on_epoch_end(self, epoch, logs=None):
        """Counts the epochs each component spent below the threshold; re-seeds."""
        logs = logs if logs is not None else {}
        usage = []
        while f"usage_{len(usage)}" in logs:
            usage.append(float(np.asarray(logs[f"usage_{len(usage)}"])))
        if len(usage) < 2:
            return
        logs["reseeded"] = 0  # History and the progress bar come after us
        limit = self.threshold / len(usage)
        counters = self.model.reseed_counters
        for k, share in enumerate(usage):
            counters[k] = counters[k] + 1 if share < limit else 0
        dead = [k for k in range(len(usage)) if counters[k] >= self.patience]
        if not dead:
            return
        # Split what the model holds now, not the epoch's mean usage: a
        # component busy early in the epoch may hold no sample at its end.
        held = np.bincount(self.model.predict_clusters(self.x), minlength=len(usage))
        sources = [
            int(k)
            for k in np.argsort(held, kind="stable")[::-1]
            if held[k] >= max(2, 2 * limit * len(self.x)) and k not in dead
        ]
        for number, (component, source) in enumerate(zip(dead, sources, strict=False)):
            moved = reseed_component(
                self.model,
                component,
                source,
                self.x,
                seed=int(
                    np.random.default_rng([self.seed, epoch, number]).integers(2**31)
                ),
            )
            counters[component] = 0
            self.events.append((epoch + 1, component, source, moved))
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
