"""GAN training speed: `keras_mae.models.GAN.fit` against a hand-written loop.

Both train the same default DCGAN networks (`ConvDecoder` generator,
`ConvEncoder` discriminator, 28x28x1 images, latent size 64, batch 64, Adam
2e-4/0.5, non-saturating loss, one discriminator and one generator update per
step). The hand-written loop is the idiom of each backend's Keras guide
("Writing a training loop from scratch in TensorFlow / JAX / PyTorch"):
`tf.function` + `GradientTape`; `jax.jit` + `stateless_call` +
`jax.value_and_grad` + `stateless_apply`; `backward()` + `optimizer.apply`
under `torch.no_grad()`.

Input (`--input`):

- `arrays` (default): `fit` receives the numpy array (Keras builds its own
  input pipeline, shuffling as it does by default); the hand-written loop
  receives the same batches already converted to tensors, its best case.
- `dataset`: both read one `tf.data.Dataset.from_tensor_slices(data).batch(64)`
  with tf.data's autotuner off (the input idiom of the TensorFlow guide; on
  TensorFlow `fit` turns every input into a `tf.data` pipeline anyway). On
  JAX and PyTorch the loop converts each batch to the backend's tensors, as
  `fit` does.

Each measurement times `--steps` steps after a warm-up (compilation); the two
loops alternate `--repeats` times; the median and the best steps/s of each
are reported.

Usage:
    KERAS_BACKEND=jax python benchmarks/gan_speed.py [--steps 40] [--repeats 3] \
        [--steps-per-execution 1] [--input arrays]
"""

import argparse
import datetime
import os
import platform
import statistics
import time

import keras
import numpy as np

from keras_mae.models import GAN

BATCH, LATENT, SHAPE = 64, 64, (28, 28, 1)


def make_gan(seed=0, steps_per_execution=1):
    keras.utils.set_random_seed(seed)
    gan = GAN(latent_dim=LATENT, data_shape=SHAPE, seed=seed)
    gan.compile(steps_per_execution=steps_per_execution)
    return gan


class Timer(keras.callbacks.Callback):
    """Times the second epoch only: the first one compiles."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def tf_dataset(data, steps):
    import tensorflow as tf

    # tf.data's autotuner is off: on the 2-core machine of docs/benchmarks.md
    # it left whole epochs running on one core, for `fit` and the loop alike.
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = tf.data.Dataset.from_tensor_slices(data[: steps * BATCH])
    return dataset.batch(BATCH).with_options(options)


def time_fit(data, steps, steps_per_execution=1, source="arrays"):
    gan = make_gan(steps_per_execution=steps_per_execution)
    timer = Timer()
    gan.fit(**fit_inputs(data, steps, source), epochs=2, verbose=0, callbacks=[timer])
    return steps / timer.seconds


def nonsaturating_d(real_logits, fake_logits):
    ops = keras.ops
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def nonsaturating_g(fake_logits):
    return keras.ops.mean(keras.ops.softplus(-fake_logits))


def handwritten_tensorflow(gan, batches):
    import tensorflow as tf

    g, d = gan.generator, gan.discriminator
    g_opt, d_opt = (
        gan.player_optimizer("generator"),
        gan.player_optimizer("discriminator"),
    )
    seed = keras.random.SeedGenerator(0)

    @tf.function
    def train_step(real):
        z = keras.random.normal((BATCH, LATENT), seed=seed)
        with tf.GradientTape() as tape:
            fake = g(z, training=True)
            loss = nonsaturating_d(d(real, training=True), d(fake, training=True))
        d_opt.apply_gradients(
            zip(
                tape.gradient(loss, d.trainable_weights),
                d.trainable_weights,
                strict=True,
            )
        )
        z = keras.random.normal((BATCH, LATENT), seed=seed)
        with tf.GradientTape() as tape:
            loss = nonsaturating_g(d(g(z, training=True), training=True))
        g_opt.apply_gradients(
            zip(
                tape.gradient(loss, g.trainable_weights),
                g.trainable_weights,
                strict=True,
            )
        )
        return loss

    def run(batches):
        for real in batches:
            loss = train_step(real)
        float(loss)

    return run, [tf.convert_to_tensor(b) for b in batches]


def handwritten_jax(gan, batches):
    import jax

    g, d = gan.generator, gan.discriminator
    g_opt, d_opt = (
        gan.player_optimizer("generator"),
        gan.player_optimizer("discriminator"),
    )
    seed = keras.random.SeedGenerator(0)

    def d_loss_fn(d_train, d_non, g_train, g_non, real, z):
        fake, g_non = g.stateless_call(g_train, g_non, z, training=True)
        real_logits, d_non = d.stateless_call(d_train, d_non, real, training=True)
        fake_logits, d_non = d.stateless_call(d_train, d_non, fake, training=True)
        return nonsaturating_d(real_logits, fake_logits), (d_non, g_non)

    def g_loss_fn(g_train, g_non, d_train, d_non, z):
        fake, g_non = g.stateless_call(g_train, g_non, z, training=True)
        fake_logits, d_non = d.stateless_call(d_train, d_non, fake, training=True)
        return nonsaturating_g(fake_logits), (g_non, d_non)

    @jax.jit
    def train_step(state, real):
        g_train, g_non, d_train, d_non, g_opt_vars, d_opt_vars, seed_state = state
        z, seed_state = (
            keras.random.normal((BATCH, LATENT), seed=seed_state),
            seed_state + 1,
        )
        (_, (d_non, g_non)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d_train, d_non, g_train, g_non, real, z
        )
        d_train, d_opt_vars = d_opt.stateless_apply(d_opt_vars, grads, d_train)
        z, seed_state = (
            keras.random.normal((BATCH, LATENT), seed=seed_state),
            seed_state + 1,
        )
        (loss, (g_non, d_non)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
            g_train, g_non, d_train, d_non, z
        )
        g_train, g_opt_vars = g_opt.stateless_apply(g_opt_vars, grads, g_train)
        return loss, (
            g_train,
            g_non,
            d_train,
            d_non,
            g_opt_vars,
            d_opt_vars,
            seed_state,
        )

    state = [
        [v.value for v in g.trainable_variables],
        [v.value for v in g.non_trainable_variables],
        [v.value for v in d.trainable_variables],
        [v.value for v in d.non_trainable_variables],
        [v.value for v in g_opt.variables],
        [v.value for v in d_opt.variables],
        keras.ops.convert_to_tensor(seed.state.value),
    ]

    def run(batches):
        nonlocal state
        for real in batches:
            loss, state = train_step(state, real)
        float(loss)

    return run, [jax.numpy.asarray(b) for b in batches]


def handwritten_torch(gan, batches):
    import torch

    g, d = gan.generator, gan.discriminator
    g_opt, d_opt = (
        gan.player_optimizer("generator"),
        gan.player_optimizer("discriminator"),
    )
    seed = keras.random.SeedGenerator(0)

    def step(real):
        z = keras.random.normal((BATCH, LATENT), seed=seed)
        fake = g(z, training=True).detach()
        loss = nonsaturating_d(d(real, training=True), d(fake, training=True))
        d.zero_grad()
        loss.backward()
        with torch.no_grad():
            d_opt.apply(
                [v.value.grad for v in d.trainable_weights], d.trainable_weights
            )
        z = keras.random.normal((BATCH, LATENT), seed=seed)
        loss = nonsaturating_g(d(g(z, training=True), training=True))
        g.zero_grad()
        loss.backward()
        with torch.no_grad():
            g_opt.apply(
                [v.value.grad for v in g.trainable_weights], g.trainable_weights
            )
        return loss

    def run(batches):
        for real in batches:
            loss = step(real)
        float(loss)

    return run, [keras.ops.convert_to_tensor(b) for b in batches]


class KerasGuideGAN(keras.Model):
    """The GAN of Keras's TensorFlow DCGAN example: `train_step` by hand.

    A control on TensorFlow only: it goes through the same `fit` machinery as
    `keras_mae.models.GAN` with a hand-written `GradientTape` step, so the
    gap between it and the raw loop is what `fit` itself costs.
    """

    def __init__(self, gan):
        super().__init__()
        self.generator, self.discriminator = gan.generator, gan.discriminator
        self.g_opt = gan.player_optimizer("generator")
        self.d_opt = gan.player_optimizer("discriminator")
        self.noise = keras.random.SeedGenerator(0)

    def train_step(self, real):
        import tensorflow as tf

        g, d = self.generator, self.discriminator
        z = keras.random.normal((BATCH, LATENT), seed=self.noise)
        with tf.GradientTape() as tape:
            fake = g(z, training=True)
            d_loss = nonsaturating_d(d(real, training=True), d(fake, training=True))
        grads = tape.gradient(d_loss, d.trainable_weights)
        self.d_opt.apply_gradients(zip(grads, d.trainable_weights, strict=True))
        z = keras.random.normal((BATCH, LATENT), seed=self.noise)
        with tf.GradientTape() as tape:
            g_loss = nonsaturating_g(d(g(z, training=True), training=True))
        grads = tape.gradient(g_loss, g.trainable_weights)
        self.g_opt.apply_gradients(zip(grads, g.trainable_weights, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss}


def fit_inputs(data, steps, source):
    if source == "dataset":
        return {"x": tf_dataset(data, steps)}
    return {"x": data[: steps * BATCH], "batch_size": BATCH}


def time_keras_guide(data, steps, source="arrays"):
    model = KerasGuideGAN(make_gan())
    model.compile()
    timer = Timer()
    model.fit(**fit_inputs(data, steps, source), epochs=2, verbose=0, callbacks=[timer])
    return steps / timer.seconds


HANDWRITTEN = {
    "tensorflow": handwritten_tensorflow,
    "jax": handwritten_jax,
    "torch": handwritten_torch,
}


def _converted(dataset):
    """Iterates a `tf.data` dataset as backend tensors, as `fit` does."""
    for batch in dataset.as_numpy_iterator():
        yield keras.ops.convert_to_tensor(batch)


def time_handwritten(data, steps, source="arrays"):
    gan = make_gan()
    batches = [data[i * BATCH : (i + 1) * BATCH] for i in range(steps)]
    run, tensors = HANDWRITTEN[keras.backend.backend()](gan, batches)
    run(tensors[:2])  # warm-up: tracing and compilation
    if source == "dataset":
        dataset = tf_dataset(data, steps)
        tensorflow = keras.backend.backend() == "tensorflow"
        epoch = dataset if tensorflow else _converted(dataset)
    else:
        epoch = tensors
    start = time.perf_counter()
    run(epoch)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        default=1,
        help="passed to GAN.compile: steps run per call into the compiled step",
    )
    parser.add_argument(
        "--input",
        choices=("arrays", "dataset"),
        default="arrays",
        help="what both loops read (see the module docstring)",
    )
    args = parser.parse_args()
    backend = keras.backend.backend()
    data = np.random.default_rng(0).uniform(size=(args.steps * BATCH, *SHAPE))
    data = data.astype("float32")
    fit_speeds, loop_speeds, guide_speeds = [], [], []
    for _ in range(args.repeats):
        fit_speeds.append(
            time_fit(data, args.steps, args.steps_per_execution, args.input)
        )
        loop_speeds.append(time_handwritten(data, args.steps, args.input))
        if backend == "tensorflow":
            guide_speeds.append(time_keras_guide(data, args.steps, args.input))
    fit, loop = statistics.median(fit_speeds), statistics.median(loop_speeds)
    print(
        f"date={datetime.date.today()} machine={platform.machine()} "
        f"cpus={os.cpu_count()} backend={backend} keras={keras.__version__}"
    )
    print(
        f"steps={args.steps} repeats={args.repeats} batch={BATCH} "
        f"steps_per_execution={args.steps_per_execution} input={args.input}"
    )
    print(
        f"fit steps/s (each run):         {', '.join(f'{s:.2f}' for s in fit_speeds)}"
    )
    print(
        f"hand-written steps/s (each run): {', '.join(f'{s:.2f}' for s in loop_speeds)}"
    )
    if guide_speeds:
        print(
            "Keras-guide GAN fit steps/s (each run): "
            + ", ".join(f"{s:.2f}" for s in guide_speeds)
        )
    # Noise on a shared machine only ever slows a run down, so the fastest run
    # of each (what `timeit` recommends reading) is the steadier comparison.
    best_fit, best_loop = max(fit_speeds), max(loop_speeds)
    print(
        "| backend | fit median | hand-written median | ratio "
        "| fit best | hand-written best | ratio |"
    )
    print(
        f"| {backend} | {fit:.2f} | {loop:.2f} | {fit / loop:.2f}x "
        f"| {best_fit:.2f} | {best_loop:.2f} | {best_fit / best_loop:.2f}x |"
    )
    if guide_speeds:
        guide, best_guide = statistics.median(guide_speeds), max(guide_speeds)
        print(
            f"| {backend}, Keras-guide GAN fit | {guide:.2f} | {loop:.2f} "
            f"| {guide / loop:.2f}x | {best_guide:.2f} | {best_loop:.2f} "
            f"| {best_guide / best_loop:.2f}x |"
        )


if __name__ == "__main__":
    main()
