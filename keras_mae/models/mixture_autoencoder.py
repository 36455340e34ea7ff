"""The Mixture Autoencoder: K autoencoders, an assignment network, a discriminator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_mae.layers import AssignmentNetwork, MLPEncoder, RandomAffine
from keras_mae.layers.random_affine import affine_transforms
from keras_mae.models import mixture_config, mixture_inputs, mixture_networks
from keras_mae.models.mixture_data import MixtureData
from keras_mae.models.mixture_inference import MixtureInference
from keras_mae.models.mixture_objective import MixtureObjective
from keras_mae.presets.mixin import PresetMixin
from keras_mae.training import AdversarialModel
from keras_mae.training.reseeding import reseed_component
from keras_mae.utils.argument_checks import check_int

__all__ = ["MixtureAutoencoder", "affine_transforms"]

ADVERSARIAL_MODES = (None, "latent", "data", "both")
_NAME = "MixtureAutoencoder"
_RESEED_KEY = "reseed_counters"


@keras.saving.register_keras_serializable(package="keras_mae")
class MixtureAutoencoder(
    PresetMixin, MixtureData, MixtureInference, MixtureObjective, AdversarialModel
):
    """K autoencoders and an assignment network, trained adversarially.

    Each of the K autoencoders encodes a sample to a code of size
    `latent_dim` and decodes it back; the assignment network reads the K codes
    and returns p(k | x). Training (MIXAE, Zhang et al. 2017) minimises

        sum_k p(k|x) * reconstruction_k(x)
        + sample_entropy_weight * H(p(.|x))       (confident assignments)
        - batch_entropy_weight * H(mean_x p(.|x))  (balanced components)

    plus `consistency_weight` times a SCAN-style consistency term that asks
    an augmented copy of `x` (`augmentation`; images: a random shear,
    rotation, scaling and shift) for the same assignment, `neighbor_weight`
    times the same term between `x` and one of its `num_neighbors` nearest
    neighbours in the training data, and, with `adversarial`, a generator
    loss against a discriminator:

    - `"latent"` (default): the codes of the samples assigned to component k
      are matched to the prior N(0, I) (adversarial-autoencoder style), so
      `decode(z ~ N(0, I), k)` samples cluster k;
    - `"data"`: a discriminator tells real inputs from decoded prior samples;
    - `"both"`, or `None` for plain MIXAE.

    **Defaults per kind of data.** The `"auto"` arguments are settled when the
    model first sees data:

    - vectors `(n, d)` of any scale: a `keras.layers.Normalization` adapted
      by `fit` (saved with the model, so every method takes raw data;
      neighbours are searched after it), (512, 256) hidden units, linear
      decoder outputs with MSE, no augmentation, `batch_entropy_weight` 1.0,
      `neighbor_weight` 3.0 over `num_neighbors` 10, `self_labeling` 0.8;
    - images `(n, H, W, C)` in [0, 1]: no normalization, (256, 128) hidden
      units, a sigmoid decoder, `RandomAffine()` as the augmentation,
      `batch_entropy_weight` 5.0, `neighbor_weight` 1.0 over `num_neighbors` 5,
      no self-labelling.

    **What `fit` does with an array.** It adapts the normalization (once),
    finds each sample's nearest neighbours (when `neighbor_weight > 0`; exact
    up to 50,000 samples, above with pynndescent's index: 23 s for the 70,000
    MNIST images on 2 CPU cores, its compilation included), serves the
    batches in an order fixed by `seed` and the epoch (a resumed run repeats
    an uninterrupted one), and adds `ReseedDeadComponents` (when
    `reseed_threshold > 0`), which re-seeds a component that ends 3 epochs in
    a row (nearly) empty with one half of the busiest, and `SelfLabeling`
    (with `self_labeling`), which ends training by relabelling the samples
    with a linear discriminant of each cluster's most confident ones.
    `batch_size`, `shuffle` and `validation_split` keep Keras's meaning (the
    held-out samples are not adapted to, re-seeded or relabelled). Give `fit` a
    `NeighborPairs` to bring your own neighbours; other datasets train
    without the neighbour term (with a warning).

    `fit`/`evaluate` log `loss`, `reconstruction`, `sample_entropy`,
    `batch_entropy`, `consistency` (with augmentation), `neighbor`,
    `adversarial` and `d_loss` (with a discriminator) and `usage_k`, the
    share of samples assigned to component k.

    The default autoencoders are K independent MLPs of `hidden_units`, run as
    one network by `ParallelDense` (one einsum per layer for all K), also for
    images. Pass `encoder` and `decoder` builders (e.g.
    `lambda k: ConvEncoder(latent_dim)`) for others.

    Args:
        num_components: Number of components K (clusters), at least 2.
        latent_dim: Size of each component's code.
        input_shape: Shape of one sample, e.g. `(28, 28, 1)` or `(13,)`;
            inferred from the data if None.
        encoder: None (default), a layer from data to codes
            `(batch, K, latent_dim)`, a list of K layers from data to
            `(batch, latent_dim)`, or a builder `f(k) -> layer` called K times.
        decoder: None (default), a layer from `(batch, K, latent_dim)` to
            `(batch, K, *input_shape)`, a list of K layers from
            `(batch, latent_dim)` to `(batch, *input_shape)`, or a builder.
        assignment: The network from codes `(batch, K, latent_dim)` to
            p(k | x); default `AssignmentNetwork(K)`. It must accept
            `return_logits=True`.
        adversarial: `"latent"`, `"data"`, `"both"` or None.
        hidden_units: Widths of the default encoder/decoder hidden layers,
            or `"auto"`: (512, 256) for vectors, (256, 128) for images.
        output_activation: `"auto"`, or the output activation of the default
            decoder: `"sigmoid"` for data in [0, 1] (checked), None for
            unbounded data.
        normalization: `"auto"`, `"standardize"` (a `Normalization` adapted
            by `fit` or `adapt`) or None.
        augmentation: `"auto"`, a layer applied to the data for the
            consistency term (e.g. `RandomAffine(shear=0.0)`), or None.
        reconstruction_loss: `"mse"` or `"binary_crossentropy"`, per sample
            and averaged over features.
        sample_entropy_weight: Weight of the sample-wise assignment entropy.
        batch_entropy_weight: Weight of the batch-wise assignment entropy;
            `"auto"`: 5.0 for images (the MNIST protocol), 1.0 for vectors
            (tables are often unbalanced: breast cancer is 63/37; with 5.0
            the suite's vector sets scored lower, docs/benchmarks.md).
        adversarial_weight: Weight of the autoencoders' adversarial loss.
        adversarial_loss: One of `losses.ADVERSARIAL_LOSSES`.
        component_floor: In [0, 1): share of the reconstruction weight spread
            evenly over all components, so none stops learning.
        consistency_weight: Weight of the consistency term
            (`-log sum_k p(k|x) p(k|x')`, `x'` the augmented `x`, as in
            SCAN). Keep it well below `batch_entropy_weight`, or all samples
            join one component.
        neighbor_weight: Weight of the nearest-neighbour term (the same
            agreement between `x` and one of its nearest neighbours, a new
            one every epoch); 0 turns it off; `"auto"`: 1.0 for images, 3.0
            for vectors. On MNIST it raised ACC from 0.65 to 0.85 over 3
            seeds of 10 epochs; on tables it is what clusters
            (docs/benchmarks.md).
        num_neighbors: How many nearest neighbours to draw from; `"auto"`: 5
            for images, 10 for vectors.
        reseed_threshold: Share of a fair `1 / K` below which `fit` on an
            array calls a component dead (3 epochs in a row) and re-seeds
            it; 0 turns it off.
        self_labeling: Share of each cluster, in (0, 1], whose most
            confident samples end `fit` on an array by `SelfLabeling`: a
            linear discriminant of them relabels all samples, and the
            assignment learns its labels; None turns it off; `"auto"`: 0.8
            for vectors, None for images (docs/benchmarks.md).
        latent_discriminator: Scores `(batch, latent_dim + K)` (a code and its
            one-hot component); default `MLPEncoder(1, (128, 128))`.
        data_discriminator: Scores data; default `ConvEncoder(1)` for images
            whose sides divide by 4, else `MLPEncoder(1, (256,))`.
        seed: Seed of the model's noise, its augmentation and its batch order.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Examples:

    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> mae = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=0)
    >>> mae.compile()  # Adam(1e-3); discriminator Adam(2e-4, beta_1=0.5)
    >>> history = mae.fit(x, batch_size=64, epochs=1, verbose=0)
    >>> mae.predict_proba(x).shape, mae.predict_clusters(x).shape
    ((256, 3), (256,))
    >>> mae.sample(4, component=1, seed=0).shape  # in the units of x
    (4, 5)
    """

    def __init__(
        self,
        num_components: int,
        latent_dim: int,
        input_shape: Sequence[int] | None = None,
        encoder: keras.layers.Layer | Sequence | Callable | None = None,
        decoder: keras.layers.Layer | Sequence | Callable | None = None,
        assignment: keras.layers.Layer | None = None,
        adversarial: str | None = "latent",
        hidden_units: Sequence[int] | str = "auto",
        output_activation: str | None = "auto",
        normalization: str | None = "auto",
        augmentation: keras.layers.Layer | str | None = "auto",
        reconstruction_loss: str = "mse",
        sample_entropy_weight: float = 0.002,
        batch_entropy_weight: float | str = "auto",
        adversarial_weight: float = 0.01,
        adversarial_loss: str = "non_saturating",
        component_floor: float = 0.1,
        consistency_weight: float = 1.0,
        neighbor_weight: float | str = "auto",
        num_neighbors: int | str = "auto",
        reseed_threshold: float = 0.2,
        self_labeling: float | str | None = "auto",
        latent_discriminator: keras.layers.Layer | None = None,
        data_discriminator: keras.layers.Layer | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        self.num_components = check_int(_NAME, "num_components", num_components, 2)
        self.latent_dim = check_int(_NAME, "latent_dim", latent_dim)
        if adversarial not in ADVERSARIAL_MODES:
            raise ValueError(
                f"{_NAME} expects `adversarial` to be one of {ADVERSARIAL_MODES}; "
                f"received {adversarial!r}."
            )
        self.adversarial = adversarial
        self.hidden_units = mixture_config.check_hidden_units(hidden_units)
        self.output_activation = output_activation
        if normalization not in ("auto", "standardize", None):
            raise ValueError(
                f"{_NAME} expects `normalization` to be 'auto', 'standardize' or "
                f"None; received {normalization!r}."
            )
        self.normalization = normalization
        if not (
            augmentation in ("auto", None)
            or isinstance(augmentation, keras.layers.Layer)
        ):
            raise TypeError(
                f"{_NAME} expects `augmentation` to be 'auto', a Keras layer or "
                f"None; received {augmentation!r}."
            )
        self._augmentation_argument = augmentation
        self.augmentation = (
            augmentation if isinstance(augmentation, keras.layers.Layer) else None
        )
        self._set_objective(
            reconstruction_loss=reconstruction_loss,
            sample_entropy_weight=sample_entropy_weight,
            batch_entropy_weight=batch_entropy_weight,
            adversarial_weight=adversarial_weight,
            adversarial_loss=adversarial_loss,
            component_floor=component_floor,
            consistency_weight=consistency_weight,
            neighbor_weight=neighbor_weight,
            num_neighbors=num_neighbors,
            reseed_threshold=reseed_threshold,
            self_labeling=self_labeling,
        )
        self.data_shape = None
        if input_shape is not None:
            shape = (input_shape,) if isinstance(input_shape, int) else input_shape
            self.data_shape = tuple(check_int(_NAME, "input_shape", d) for d in shape)
        self.encoder = mixture_networks.layers_or_builder(
            "encoder", encoder, self.num_components
        )
        self.decoder = mixture_networks.layers_or_builder(
            "decoder", decoder, self.num_components
        )
        if assignment is not None and not isinstance(assignment, keras.layers.Layer):
            raise TypeError(
                f"{_NAME} expects `assignment` to be a Keras layer or None; "
                f"received {type(assignment).__name__}."
            )
        self.assignment = assignment or AssignmentNetwork(
            self.num_components, name="assignment"
        )
        self.latent_discriminator = None
        if adversarial in ("latent", "both"):
            self.latent_discriminator = latent_discriminator or MLPEncoder(
                1, hidden_units=(128, 128), name="latent_discriminator"
            )
        self.data_discriminator = (
            data_discriminator if adversarial in ("data", "both") else None
        )
        self.normalizer = None
        # Epochs in a row each component spent nearly empty: the state of
        # `ReseedDeadComponents`, saved with the weights for resumed runs.
        self.reseed_counters = np.zeros(self.num_components, "int64")
        if self.data_shape is not None:
            self._build_networks(self.data_shape)

    def _set_objective(self, **values) -> None:
        """Checks and sets loss hyperparameters (constructor, old presets)."""
        for name, value in mixture_config.check_objective(values).items():
            setattr(self, name, value)

    # ------------------------------------------------------------------
    # Building: the defaults are settled by the shape of the data.
    @property
    def data_kind(self) -> str | None:
        """`"images"`, `"vectors"` or `"other"` once built, else None."""
        shape = self.data_shape
        return None if shape is None else mixture_inputs.data_kind(shape)

    def resolved(self, name: str, kind: str | None = None):
        """A hyperparameter with `"auto"` settled by the kind of data.

        Args:
            name: A name of `mixture_config.AUTO_VALUES`, e.g.
                `"hidden_units"` or `"self_labeling"`.
            kind: The kind of data (`"vectors"`, `"images"`); by default the
                model's own, once it is built.
        """
        kind = self.data_kind if kind is None else kind
        return mixture_config.resolve(name, getattr(self, name), kind)

    def _resolved_output_activation(self) -> str | None:
        if self.output_activation != "auto":
            return self.output_activation
        return "sigmoid" if self.data_kind == "images" else None

    def build(self, input_shape) -> None:
        """Builds every network for data of shape `input_shape`, settling `"auto"`.

        Args:
            input_shape: `(batch, *data_shape)`, or the dict of shapes of a
                `NeighborPairs` batch.
        """
        if isinstance(input_shape, dict):  # NeighborPairs batches
            input_shape = input_shape.get("x", next(iter(input_shape.values())))
        self._build_networks(mixture_networks.shape_tuple(input_shape)[1:])

    def _build_networks(self, shape: tuple) -> None:
        # Called directly, not through `build`: Keras locks a layer's state
        # after `build`, and `compile` must still add the loss trackers.
        if self.data_shape is None:
            self.data_shape = tuple(check_int(_NAME, "input_shape", d) for d in shape)
        elif shape != self.data_shape:
            raise ValueError(
                f"{_NAME} expects data of shape "
                f"{mixture_networks.format_shape(self.data_shape)}; received "
                f"{mixture_networks.format_shape(shape)}."
            )
        kind = self.data_kind
        data = (None, *self.data_shape)
        if self.normalization == "standardize" or (
            self.normalization == "auto" and kind == "vectors"
        ):
            self.normalizer = keras.layers.Normalization(axis=-1, name="normalizer")
            self.normalizer.build(data)
        if self._augmentation_argument == "auto" and kind == "images":
            self.augmentation = RandomAffine(seed=self.seed, name="augmentation")
        units = self.resolved("hidden_units")
        if self.encoder is None:
            self.encoder = mixture_networks.default_encoder(
                self.num_components, self.latent_dim, units
            )
        if self.decoder is None:
            self.decoder = mixture_networks.default_decoder(
                self.num_components,
                self.data_shape,
                units,
                self._resolved_output_activation(),
            )
        if self.adversarial in ("data", "both") and self.data_discriminator is None:
            self.data_discriminator = mixture_networks.default_data_discriminator(
                self.data_shape
            )
        mixture_networks.build_all(self)
        self.built = True
        if self.compiled:
            self._complete_compile(self._log_names())

    # ------------------------------------------------------------------
    # Compilation: the optimizers only.
    def compile(
        self,
        optimizer: keras.optimizers.Optimizer | str | None = None,
        discriminator_optimizer: keras.optimizers.Optimizer | str | None = None,
        **kwargs,
    ):
        """Configures the optimizers; the loss's hyperparameters are the model's.

        Args:
            optimizer: Optimizer of the autoencoders and the assignment
                network; default `Adam(1e-3)`.
            discriminator_optimizer: Optimizer of the discriminator(s);
                default `Adam(2e-4, beta_1=0.5)`.
            **kwargs: `steps_per_execution`, `jit_compile`, `run_eagerly`.
        """
        moved = sorted(set(kwargs) & set(mixture_config.LEGACY_COMPILE_KEYS))
        if moved:
            raise TypeError(
                f"{_NAME}.compile configures optimization only; {moved} are "
                f"hyperparameters of the model now: pass them to "
                f"MixtureAutoencoder(...) (consistency_shear: "
                "augmentation=RandomAffine(shear=...))."
            )
        optimizers = {"autoencoder": optimizer or keras.optimizers.Adam(1e-3)}
        if self.adversarial is not None:
            optimizers = {
                "discriminator": discriminator_optimizer
                or keras.optimizers.Adam(2e-4, beta_1=0.5),
                **optimizers,
            }
        config = {
            "optimizer": optimizers["autoencoder"],
            "discriminator_optimizer": optimizers.get("discriminator"),
            **kwargs,
        }
        self._compile_players(optimizers, self._log_names(), config, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded model as it was saved (old presets' layout too)."""
        config = keras.saving.deserialize_keras_object(config)
        # Presets saved before the loss hyperparameters moved to the
        # constructor hold them here; they describe the trained model.
        config, objective, shear = mixture_config.split_legacy_compile(config)
        if shear is not None and self.augmentation is not None:
            self.augmentation.shear = shear
        self._set_objective(**objective)
        self.compile(**config)

    def _log_names(self) -> list[str]:
        """What `fit`/`evaluate` log; `consistency` once there is augmentation."""
        names = ["loss", "reconstruction", "sample_entropy", "batch_entropy"]
        if self._uses_consistency():
            names.append("consistency")
        if self._uses_neighbors():
            names.append("neighbor")
        if self.adversarial is not None:
            names += ["adversarial", "d_loss"]
        return names + [f"usage_{k}" for k in range(self.num_components)]

    # ------------------------------------------------------------------
    # Dead components.
    def copy_component(self, source: int, target: int) -> None:
        """Gives component `target` the networks (and logit) of `source`."""
        for layer in mixture_networks.parallel_layers(self.encoder, self.decoder):
            layer.copy_component(source, target)
        for part in (self.encoder, self.decoder):
            if isinstance(part, list):
                part[target].set_weights(part[source].get_weights())
        if hasattr(self.assignment, "copy_component"):
            self.assignment.copy_component(source, target)

    def reseed_component(self, target: int, source: int, x, **kwargs) -> int:
        """`keras_mae.training.reseed_component` on this model (see there)."""
        x = self._validated(x)
        mixture_networks.parallel_layers(self.encoder, self.decoder)  # fails early
        return reseed_component(self, target, source, x, **kwargs)

    # ------------------------------------------------------------------
    # Keras.
    def call(self, x, training=False):
        """The assignment probabilities p(k | x), shape `(batch, K)`.

        Args:
            x: A batch of raw data (normalized inside), or a `NeighborPairs`
                batch (its `"x"`).
            training: Whether the networks run in training mode.
        """
        if isinstance(x, dict):
            x = x["x"]
        return self.assignment(self._encode_all(x, training=training))

    def save_own_variables(self, store):
        """Saves the weights, seed states and the re-seeding counters."""
        super().save_own_variables(store)
        store[_RESEED_KEY] = np.asarray(self.reseed_counters, "int64")

    def load_own_variables(self, store):
        """Restores what `save_own_variables` saved (older files too)."""
        keys = list(store.keys())
        super().load_own_variables({k: store[k] for k in keys if k != _RESEED_KEY})
        if _RESEED_KEY in keys:
            self.reseed_counters = np.asarray(store[_RESEED_KEY], "int64").copy()
        # Loaded weights hold the adapted normalization.
        self.normalizer_adapted = True
        self.__dict__.pop("_inference_views", None)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, networks and augmentation serialized."""
        config = super().get_config()
        serialize = mixture_networks.serialize
        augmentation = self._augmentation_argument
        config.update(
            num_components=self.num_components,
            latent_dim=self.latent_dim,
            input_shape=None if self.data_shape is None else list(self.data_shape),
            encoder=serialize(self.encoder),
            decoder=serialize(self.decoder),
            assignment=serialize(self.assignment),
            adversarial=self.adversarial,
            hidden_units=self.hidden_units
            if isinstance(self.hidden_units, str)
            else list(self.hidden_units),
            output_activation=self.output_activation,
            normalization=self.normalization,
            augmentation=augmentation
            if isinstance(augmentation, str) or augmentation is None
            else serialize(augmentation),
            **{name: getattr(self, name) for name in mixture_config.OBJECTIVE_KEYS},
            latent_discriminator=serialize(self.latent_discriminator),
            data_discriminator=serialize(self.data_discriminator),
        )
        return config

    @classmethod
    def from_config(cls, config):
        """A new, untrained model from `get_config()`'s output (older layouts too)."""
        config = mixture_config.migrate_config(config)
        return cls(**mixture_networks.deserialize_layers(config))

    def preset_training_layers(self) -> list[keras.layers.Layer]:
        """Layers needed only to train: the discriminator(s)."""
        return self._discriminators()
