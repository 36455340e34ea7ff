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

Every loop is built and compiled once per process; then each repeat times one
epoch of `--steps` steps of every loop in turn (the order rotates), so slow
spells of a shared machine hit all of them alike. The script prints each
run's steps/s, the median and best of each loop, and the median of the
per-repeat ratios `fit / loop` (the steadiest figure on a noisy machine).

Usage:
    KERAS_BACKEND=jax python benchmarks/gan_speed.py [--steps 60] [--repeats 9] \
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
    """Times one epoch of `fit`, without `fit`'s set-up before it."""

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


def fit_runner(model, data, steps, source="arrays"):
    """Compiles `model`'s `fit`; returns a function timing one epoch of it."""
    model.fit(**fit_inputs(data, 2, source), epochs=1, verbose=0)  # compiles
    timer = Timer()

    def run():
        inputs = fit_inputs(data, steps, source)
        model.fit(**inputs, epochs=1, verbose=0, callbacks=[timer])
        return steps / timer.seconds

    return run


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


HANDWRITTEN = {
    "tensorflow": handwritten_tensorflow,
    "jax": handwritten_jax,
    "torch": handwritten_torch,
}


def _converted(dataset):
    """Iterates a `tf.data` dataset as backend tensors, as `fit` does."""
    for batch in dataset.as_numpy_iterator():
        yield keras.ops.convert_to_tensor(batch)


def loop_runner(data, steps, source="arrays"):
    """Compiles the hand-written loop; returns a function timing one epoch."""
    gan = make_gan()
    batches = [data[i * BATCH : (i + 1) * BATCH] for i in range(steps)]
    run, tensors = HANDWRITTEN[keras.backend.backend()](gan, batches)
    run(tensors[:2])  # warm-up: tracing and compilation

    def timed():
        if source == "dataset":
            dataset = tf_dataset(data, steps)
            tensorflow = keras.backend.backend() == "tensorflow"
            epoch = dataset if tensorflow else _converted(dataset)
        else:
            epoch = tensors
        start = time.perf_counter()
        run(epoch)
        return steps / (time.perf_counter() - start)

    return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=9)
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
    runners = {
        "keras_mae GAN.fit": fit_runner(
            make_gan(steps_per_execution=args.steps_per_execution),
            data,
            args.steps,
            args.input,
        ),
        "hand-written loop": loop_runner(data, args.steps, args.input),
    }
    if backend == "tensorflow":
        guide = KerasGuideGAN(make_gan())
        guide.compile()
        runners["Keras-example GAN fit"] = fit_runner(
            guide, data, args.steps, args.input
        )
    names = list(runners)
    speeds = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            speeds[name].append(runners[name]())

    print(
        f"date={datetime.date.today()} machine={platform.machine()} "
        f"cpus={os.cpu_count()} backend={backend} keras={keras.__version__}"
    )
    print(
        f"steps={args.steps} repeats={args.repeats} batch={BATCH} "
        f"steps_per_execution={args.steps_per_execution} input={args.input}"
    )
    for name in names:
        runs = ", ".join(f"{s:.2f}" for s in speeds[name])
        print(f"{name} steps/s (each run): {runs}")
    loop = speeds["hand-written loop"]
    print(
        "| backend | input | loop | median steps/s | best steps/s "
        "| median / loop median | median of paired ratios |"
    )
    for name in names:
        median = statistics.median(speeds[name])
        # Paired ratios: each repeat's loops ran back to back, under the same
        # load; their median discards the disturbed repeats.
        pairs = zip(speeds[name], loop, strict=True)
        paired = statistics.median(fit / hand for fit, hand in pairs)
        print(
            f"| {backend} | {args.input} | {name} | {median:.2f} "
            f"| {max(speeds[name]):.2f} | {median / statistics.median(loop):.2f}x "
            f"| {paired:.2f}x |"
        )


if __name__ == "__main__":
    main()
