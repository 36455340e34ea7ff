"""Measures training steps per second of the default conv layers on the current backend.

The model is a tiny autoencoder, `ConvEncoder(latent_dim)` followed by
`ConvDecoder((28, 28, 1))`, trained with `fit` on batches of 64 random 28x28x1
images. Run it once per backend, each in its own process:

    KERAS_BACKEND=jax python benchmarks/layer_speed.py
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import time

import keras
import numpy as np

from keras_mae.layers import ConvDecoder, ConvEncoder


def build_autoencoder(
    latent_dim: int, encoder_kwargs: dict, decoder_kwargs: dict
) -> keras.Model:
    """The encoder and decoder stacked as a 28x28x1 autoencoder."""
    inputs = keras.Input((28, 28, 1))
    encoder = ConvEncoder(latent_dim, name="encoder", **encoder_kwargs)
    decoder = ConvDecoder((28, 28, 1), name="decoder", **decoder_kwargs)
    model = keras.Model(inputs, decoder(encoder(inputs)))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def steps_per_second(model: keras.Model, batch_size: int, steps: int) -> float:
    """Train steps per second of `fit`, after one untimed epoch for compilation."""
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(batch_size * steps, 28, 28, 1)).astype("float32")
    model.fit(
        images[: batch_size * 3],
        images[: batch_size * 3],
        batch_size=batch_size,
        epochs=1,
        verbose=0,
    )
    start = time.perf_counter()
    model.fit(images, images, batch_size=batch_size, epochs=1, verbose=0)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latent-dim", type=int, default=10)
    # Without these flags the layers' own defaults are measured.
    parser.add_argument("--encoder-filters", type=int, nargs="+")
    parser.add_argument("--decoder-filters", type=int, nargs="+")
    args = parser.parse_args()

    encoder_kwargs = {"filters": args.encoder_filters} if args.encoder_filters else {}
    decoder_kwargs = {"filters": args.decoder_filters} if args.decoder_filters else {}
    model = build_autoencoder(args.latent_dim, encoder_kwargs, decoder_kwargs)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    rates = [
        steps_per_second(model, args.batch_size, args.steps)
        for _ in range(args.repeats)
    ]
    print(f"command: {shlex.join([sys.executable.split('/')[-1], *sys.argv])}")
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"backend: {keras.backend.backend()} (keras {keras.__version__})")
    print(f"machine: {platform.machine()}, {platform.processor() or 'unknown cpu'}")
    print(
        f"encoder filters {encoder.filters}, decoder filters {decoder.filters}, "
        f"batch {args.batch_size}, "
        f"{model.count_params()} parameters"
    )
    print(
        f"train steps/s: {np.median(rates):.2f} (median of {args.repeats} runs of "
        f"{args.steps} steps; all: {', '.join(f'{r:.2f}' for r in rates)})"
    )


if __name__ == "__main__":
    main()
