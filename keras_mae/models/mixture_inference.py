"""What a trained Mixture Autoencoder answers: compiled, batched inference.

A mixin of `MixtureAutoencoder`. Each method runs one compiled function over
the data in batches (`keras.Model.predict` of the model, or of a small
functional view that shares its layers), not a Python loop of eager calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keras_mae.utils.argument_checks import check_int


class MixtureInference:
    """Assignments, codes, reconstructions, anomaly scores and samples.

    Examples:
    The built-in preset `"mae_digits"`, 10 components trained on
    scikit-learn's 8x8 digits:

    >>> import numpy as np
    >>> from keras_mae import from_preset
    >>> from keras_mae.datasets import load_digits
    >>> from keras_mae.metrics import clustering_accuracy
    >>> mae = from_preset("mae_digits")
    >>> x, y = load_digits()
    >>> x, y = x[:512], y[:512]  # one batch of the default 512
    >>> mae.predict_proba(x).shape
    (512, 10)
    >>> clustering_accuracy(y, mae.predict_clusters(x)) > 0.8
    True
    >>> codes, probabilities = mae.encode(x[:4])
    >>> codes.shape, probabilities.shape
    ((4, 10, 10), (4, 10))
    >>> mae.reconstruct(x[:4]).shape, mae.anomaly_score(x[:4]).shape
    ((4, 8, 8, 1), (4,))
    >>> mae.decode(np.zeros((4, 10)), component=[0, 1, 2, 3]).shape
    (4, 8, 8, 1)
    >>> mae.sample(4, component=0, seed=0).shape
    (4, 8, 8, 1)
    """

    def _view(self, name: str) -> keras.Model:
        """A functional model over the model's own layers, built once."""
        # A plain dict set past Keras's attribute tracking: the views share
        # the model's variables and must not be saved as sub-models.
        views = self.__dict__.setdefault("_inference_views", {})
        if name not in views:
            views[name] = getattr(self, f"_build_{name}_view")()
        return views[name]

    def _build_encode_view(self) -> keras.Model:
        inputs = keras.Input(self.data_shape)
        codes = self._encode_all(inputs)
        return keras.Model(inputs, [codes, self.assignment(codes)])

    def _build_reconstruct_view(self) -> keras.Model:
        inputs = keras.Input(self.data_shape)
        normalized = self._normalized(inputs)
        codes = self._encode_normalized(normalized)
        one_hot = ops.one_hot(
            ops.argmax(self.assignment(codes), axis=-1), self.num_components
        )
        assigned = self._select(self._decode_all(codes), one_hot)
        flat = ops.reshape(assigned - normalized, (-1, int(np.prod(self.data_shape))))
        error = ops.mean(ops.square(flat), axis=-1)
        return keras.Model(inputs, [self._denormalized(assigned), error])

    def _build_decode_view(self) -> keras.Model:
        codes = keras.Input((self.latent_dim,))
        one_hot = keras.Input((self.num_components,))
        tiled = ops.repeat(ops.expand_dims(codes, 1), self.num_components, axis=1)
        decoded = self._select(self._decode_all(tiled), one_hot)
        return keras.Model([codes, one_hot], self._denormalized(decoded))

    def _predict(self, model: keras.Model, inputs, batch_size: int):
        batch_size = check_int(type(self).__name__, "batch_size", batch_size)
        return model.predict(inputs, batch_size=batch_size, verbose=0)

    def predict_proba(self, x, batch_size: int = 512) -> np.ndarray:
        """p(k | x) for each sample: float32 array `(n, K)` whose rows sum to 1.

        Args:
            x: An array of samples `(n, *input_shape)`, in the data's units.
            batch_size: How many samples to run at once.
        """
        return self._predict(self, self._validated(x), batch_size)

    def predict_clusters(self, x, batch_size: int = 512) -> np.ndarray:
        """The most likely component of each sample: int array `(n,)`."""
        return np.argmax(self.predict_proba(x, batch_size), axis=-1)

    def encode(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Codes of every component and assignment probabilities.

        Args:
            x: An array of samples `(n, *input_shape)`.
            batch_size: How many samples to run at once.

        Returns:
            `(codes, probabilities)`: float32 arrays of shapes
            `(n, K, latent_dim)` and `(n, K)`. The code of sample `i` under
            its assigned component is `codes[i, probabilities[i].argmax()]`.
        """
        codes, probabilities = self._predict(
            self._view("encode"), self._validated(x), batch_size
        )
        return codes, probabilities

    def _component_one_hot(self, component, num_samples: int) -> np.ndarray:
        components = np.broadcast_to(np.asarray(component), (num_samples,))
        if not np.issubdtype(components.dtype, np.integer) or (
            np.any(components < 0) or np.any(components >= self.num_components)
        ):
            raise ValueError(
                f"{type(self).__name__} expects `component` to be an integer (or "
                f"integers) in [0, {self.num_components}); received {component!r}."
            )
        return np.eye(self.num_components, dtype="float32")[components]

    def decode(self, z, component, batch_size: int = 512) -> np.ndarray:
        """Decodes codes `z` `(n, latent_dim)` with component(s) `component`.

        Args:
            z: Codes, shape `(n, latent_dim)`.
            component: One component index for all codes, or `n` indices.
            batch_size: How many codes to decode at once.

        Returns:
            A float32 array `(n, *input_shape)`, in the units of the data
            (the input normalization undone).
        """
        self._require_built()
        z = np.asarray(keras.ops.convert_to_numpy(z), dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"{type(self).__name__}.decode expects codes of shape "
                f"(n, {self.latent_dim}); received {z.shape}."
            )
        one_hot = self._component_one_hot(component, len(z))
        return self._predict(self._view("decode"), [z, one_hot], batch_size)

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Each sample reconstructed by its assigned component: `(n, *input_shape)`."""
        return self._predict(self._view("reconstruct"), self._validated(x), batch_size)[
            0
        ]

    def anomaly_score(self, x, batch_size: int = 512) -> np.ndarray:
        """Mean squared reconstruction error under the assigned component: `(n,)`.

        High scores mark samples that no component reconstructs well. The
        error is measured where the model reconstructs: after its input
        normalization (vectors: in standard deviations of each feature), so
        no feature counts more for its units.
        """
        return self._predict(self._view("reconstruct"), self._validated(x), batch_size)[
            1
        ]

    def sample(
        self,
        num_samples: int,
        component: int | Sequence[int] | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Decodes codes drawn from the prior N(0, I).

        Args:
            num_samples: How many samples.
            component: The component to sample from, `num_samples` of them,
                or None to draw components uniformly.
            seed: Integer seed for repeatable samples; None draws from the
                model's seed generator (different on every call).

        Returns:
            A float32 array `(num_samples, *input_shape)`.
        """
        num_samples = check_int(type(self).__name__, "num_samples", num_samples)
        self._require_built()
        generator = (
            self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        )
        z = self._prior_codes(num_samples, seed=generator)
        if component is None:
            component = keras.ops.convert_to_numpy(
                self._random_components(num_samples, seed=generator)
            )
        return self.decode(z, component)

    def _require_built(self) -> None:
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built: pass `input_shape` or fit it "
                "first."
            )
