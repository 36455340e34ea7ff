"""The Mixture Autoencoder's game, written once with keras.ops.

A mixin of `MixtureAutoencoder`: the players (who minimizes what, over which
variables), their losses and the network calls they share. It reads the
model's hyperparameters (`self.batch_entropy_weight`, ...) and networks, and
changes nothing.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_mae.models import losses
from keras_mae.training import Player, step_seeds


def split_pairs(data):
    """`(samples, neighbours)` of a batch; neighbours None for a plain batch.

    Args:
        data: A batch of samples, or a `NeighborPairs` batch
            `{"x": samples, "neighbor": neighbours}`.

    Examples:
    >>> import numpy as np
    >>> from keras_mae.models.mixture_objective import split_pairs
    >>> x = np.zeros((4, 3), "float32")
    >>> samples, neighbors = split_pairs({"x": x, "neighbor": x + 1.0})
    >>> float(neighbors.max())
    1.0
    >>> split_pairs(x)[1] is None
    True
    """
    if isinstance(data, dict):
        return data["x"], data.get("neighbor")
    return data, None


class MixtureObjective:
    """The autoencoder and discriminator players and their losses.

    Examples:
    >>> import numpy as np
    >>> from keras_mae import MixtureAutoencoder
    >>> x = np.random.default_rng(0).normal(50.0, 10.0, (256, 5)).astype("float32")
    >>> mae = MixtureAutoencoder(3, 2, hidden_units=(16,), seed=0)
    >>> mae.adapt(x)
    >>> mae.compile()
    >>> [player.name for player in mae.players()]
    ['discriminator', 'autoencoder']
    >>> loss, logs = mae.discriminator_loss(x, training=False)
    >>> list(logs)
    ['d_loss']

    `evaluate` reports every player's loss terms (`autoencoder_loss` with a
    neighbour of each sample):

    >>> logs = mae.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    >>> sorted(logs)  # doctest: +NORMALIZE_WHITESPACE
    ['adversarial', 'batch_entropy', 'd_loss', 'loss', 'neighbor',
     'reconstruction', 'sample_entropy', 'usage_0', 'usage_1', 'usage_2']
    """

    def _autoencoder_layers(self) -> list[keras.layers.Layer]:
        layers = []
        for part in (self.encoder, self.decoder):
            layers += part if isinstance(part, list) else [part]
        return [*layers, self.assignment]

    def _discriminators(self) -> list[keras.layers.Layer]:
        return [
            layer
            for layer in (self.latent_discriminator, self.data_discriminator)
            if layer is not None
        ]

    def players(self) -> list[Player]:
        """The discriminator (with `adversarial`), then the autoencoder player."""
        autoencoder = Player(
            name="autoencoder",
            variables=[
                v
                for layer in self._autoencoder_layers()
                for v in layer.trainable_variables
            ],
            optimizer=self.player_optimizer("autoencoder"),
            loss=self.autoencoder_loss,
        )
        if self.adversarial is None:
            return [autoencoder]
        discriminator = Player(
            name="discriminator",
            variables=[
                v for layer in self._discriminators() for v in layer.trainable_variables
            ],
            optimizer=self.player_optimizer("discriminator"),
            loss=self.discriminator_loss,
        )
        return [discriminator, autoencoder]

    # ------------------------------------------------------------------
    # The networks, applied to all K components at once.
    def _normalized(self, x):
        return x if self.normalizer is None else self.normalizer(x)

    def _denormalized(self, x):
        """Inverse of the input normalization (reconstructions in data units)."""
        if self.normalizer is None:
            return x
        scale = ops.maximum(ops.sqrt(self.normalizer.variance), keras.config.epsilon())
        return x * ops.cast(scale, x.dtype) + ops.cast(self.normalizer.mean, x.dtype)

    def _encode_normalized(self, x, training=False):
        if isinstance(self.encoder, list):
            return ops.stack([e(x, training=training) for e in self.encoder], axis=1)
        return self.encoder(x, training=training)

    def _encode_all(self, x, training=False):
        return self._encode_normalized(self._normalized(x), training=training)

    def _decode_all(self, codes, training=False):
        if isinstance(self.decoder, list):
            return ops.stack(
                [d(codes[:, k], training=training) for k, d in enumerate(self.decoder)],
                axis=1,
            )
        return self.decoder(codes, training=training)

    def _select(self, per_component, one_hot):
        """Picks, for each sample, the entry of its component (one-hot rows)."""
        weights = one_hot
        for _ in range(len(per_component.shape) - 2):
            weights = ops.expand_dims(weights, -1)
        return ops.sum(ops.cast(weights, per_component.dtype) * per_component, axis=1)

    def _prior_codes(self, batch_size, seed=None):
        seed = step_seeds(self.seed_generator) if seed is None else seed
        return keras.random.normal((batch_size, self.latent_dim), seed=seed)

    def _random_components(self, batch_size, seed=None):
        seed = step_seeds(self.seed_generator) if seed is None else seed
        return keras.random.randint((batch_size,), 0, self.num_components, seed=seed)

    def _decode_prior(self, batch_size, training):
        """Decoded prior samples of uniformly drawn components (normalized units)."""
        z = self._prior_codes(batch_size)
        one_hot = ops.one_hot(self._random_components(batch_size), self.num_components)
        tiled = ops.repeat(ops.expand_dims(z, 1), self.num_components, axis=1)
        return self._select(self._decode_all(tiled, training=training), one_hot)

    def _assigned_codes(self, codes, probabilities):
        """The code of each sample under its assigned component, and that one-hot."""
        one_hot = ops.one_hot(ops.argmax(probabilities, axis=-1), self.num_components)
        one_hot = ops.stop_gradient(one_hot)
        return self._select(codes, one_hot), one_hot

    def _uses_neighbors(self) -> bool:
        # "auto" is on for every kind of data, so this holds before building.
        return self.neighbor_weight == "auto" or self.neighbor_weight > 0.0

    def _uses_consistency(self) -> bool:
        return self.augmentation is not None and self.consistency_weight > 0.0

    # ------------------------------------------------------------------
    # The players' losses.
    def autoencoder_loss(self, x, training: bool = True):
        """The autoencoders' and assignment network's loss on a batch.

        Args:
            x: A batch of samples, or `{"x": samples, "neighbor": one
                neighbour of each}` (a `NeighborPairs` batch) for the
                nearest-neighbour term.
            training: Whether the networks run in training mode.

        Returns:
            `(loss, logs)`: the scalar loss and the named terms `fit` logs.
        """
        x, neighbor = split_pairs(x)
        inputs = self._normalized(x)
        codes = self._encode_normalized(inputs, training=training)
        probabilities, logits = self.assignment(codes, return_logits=True)
        reconstructions = self._decode_all(codes, training=training)
        errors = losses.component_reconstruction_errors(
            inputs, reconstructions, self.reconstruction_loss
        )
        floor = self.component_floor
        weights = (1.0 - floor) * probabilities + floor / self.num_components
        reconstruction = losses.weighted_reconstruction(errors, weights)
        sample_entropy = losses.sample_assignment_entropy(logits)
        batch_entropy = losses.batch_assignment_entropy(probabilities)
        total = (
            reconstruction
            + self.sample_entropy_weight * sample_entropy
            - self.resolved("batch_entropy_weight") * batch_entropy
        )
        logs = {
            "reconstruction": reconstruction,
            "sample_entropy": sample_entropy,
            "batch_entropy": batch_entropy,
        }
        if self._uses_consistency():
            # Augmentation acts on the data as given (images in [0, 1]).
            augmented = self.assignment(
                self._encode_all(self.augmentation(x, training=True), training)
            )
            consistency = losses.assignment_consistency(probabilities, augmented)
            total = total + self.consistency_weight * consistency
            logs["consistency"] = consistency
        if neighbor is not None and self._uses_neighbors():
            neighbor_probabilities = self.assignment(
                self._encode_all(neighbor, training=training)
            )
            agreement = losses.assignment_consistency(
                probabilities, neighbor_probabilities
            )
            total = total + self.resolved("neighbor_weight") * agreement
            logs["neighbor"] = agreement
        if self.adversarial is not None:
            adversarial = 0.0
            if self.latent_discriminator is not None:
                assigned, one_hot = self._assigned_codes(codes, probabilities)
                scores = self.latent_discriminator(
                    ops.concatenate([assigned, one_hot], axis=-1), training=training
                )
                adversarial = adversarial + losses.generator_loss(
                    self.adversarial_loss, scores
                )
            if self.data_discriminator is not None:
                fake = self._decode_prior(ops.shape(x)[0], training)
                scores = self.data_discriminator(fake, training=training)
                adversarial = adversarial + losses.generator_loss(
                    self.adversarial_loss, scores
                )
            total = total + self.adversarial_weight * adversarial
            logs["adversarial"] = adversarial
        logs["loss"] = total
        usage = ops.mean(
            ops.one_hot(ops.argmax(probabilities, axis=-1), self.num_components),
            axis=0,
        )
        for k in range(self.num_components):
            logs[f"usage_{k}"] = usage[k]
        return total, logs

    def discriminator_loss(self, x, training: bool = True):
        """The discriminator(s)' loss on a batch `x`, prior codes and samples."""
        x, _ = split_pairs(x)
        total = 0.0
        if self.latent_discriminator is not None:
            codes = self._encode_all(x, training=training)
            probabilities = self.assignment(codes)
            assigned, one_hot = self._assigned_codes(codes, probabilities)
            # Real codes carry the same components as the fake ones, so the
            # component alone tells the discriminator nothing.
            prior = self._prior_codes(ops.shape(x)[0])
            real_scores = self.latent_discriminator(
                ops.concatenate([prior, one_hot], axis=-1), training=training
            )
            fake_scores = self.latent_discriminator(
                ops.concatenate([ops.stop_gradient(assigned), one_hot], axis=-1),
                training=training,
            )
            total = total + losses.discriminator_loss(
                self.adversarial_loss, real_scores, fake_scores
            )
        if self.data_discriminator is not None:
            # The discriminator sees data in the units the decoder writes.
            fake = ops.stop_gradient(self._decode_prior(ops.shape(x)[0], training))
            total = total + losses.discriminator_loss(
                self.adversarial_loss,
                self.data_discriminator(self._normalized(x), training=training),
                self.data_discriminator(fake, training=training),
            )
        return total, {"d_loss": total}
