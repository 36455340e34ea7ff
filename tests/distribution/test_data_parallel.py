"""Data-parallel training gives the weights of single-device training.

Each backend's own engine, in a fresh process (`tests.distribution.worker`):
`keras.distribution.DataParallel` over 4 virtual JAX CPU devices,
`tf.distribute.MirroredStrategy` over 2 logical TensorFlow CPU devices, 2
PyTorch processes over gloo (`torchrun`); on JAX also
`keras.distribution.ModelParallel` on a 2 x 2 mesh (batch x model), with the
hidden kernels sharded over the model axis (`models.MODEL_LAYOUTS`). The GAN
and the MixtureAutoencoder train 8 steps of 64 samples each way, on the same
global batches.

The MixtureAutoencoder runs without per-replica randomness (see
`models.make_mae`): on JAX with its nearest-neighbour term, adversarial
prior and batch entropy, all computed on the global batch; on TensorFlow and
PyTorch, whose replicas compute their losses on their share of the batch,
without them (`neighbor_weight=0`, `adversarial=None`,
`batch_entropy_weight=0`). On PyTorch a second MixtureAutoencoder trains
with the neighbour term, each process searching its own shard; only its
processes' agreement is checked. On TensorFlow and PyTorch every replica
draws its own noise (`keras_mae.training.ReplicaSeeds`); the GAN's
single-device reference draws each replica's rows from the same seeds (see
`models.make_gan`).

Tolerance: the data-parallel step sums the same float32 per-sample
gradients in another order (per device, then across devices). A sum of 64
terms reordered changes by at most about 64 * 2**-24 ~ 4e-6 of its magnitude;
with SGD (learning rate 0.05, momentum 0.5) and gradients of order 1 that is
about 2e-7 per step per weight, and under 2e-6 after 8 steps. `ATOL = 1e-5`
leaves a margin of 5; the measured differences are at most 6e-8.
"""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest

from tests.distribution.worker import run_worker

BACKEND = keras.backend.backend()
ATOL = 1e-5
KINDS = ("gan", "mae")
# Each model's folder(s) of the worker's output: data-parallel, and on JAX
# also model-parallel.
RUNS = [(kind, kind) for kind in KINDS] + (
    [(kind, f"{kind}-model") for kind in KINDS] if BACKEND == "jax" else []
)

only_on = {
    name: pytest.mark.skipif(name != BACKEND, reason=f"needs KERAS_BACKEND={name}")
    for name in ("jax", "tensorflow", "torch")
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The worker's output folder, one run for both models (about 40-60 s)."""
    if BACKEND not in only_on:
        pytest.skip(f"no distribution engine for KERAS_BACKEND={BACKEND}")
    out = tmp_path_factory.mktemp("distributed")
    run_worker(list(KINDS), out, resume=True)
    return out


def _load(folder):
    arrays = np.load(folder / "weights.npz")
    info = json.loads((folder / "info.json").read_text())
    return arrays, info


def _outputs(kind, model, inputs):
    if kind == "gan":
        return model.generate(8, seed=1)
    return model.predict_proba(inputs)


@pytest.mark.parametrize(("kind", "folder"), RUNS)
def test_distributed_weights_equal_single_device(trained, kind, folder):
    arrays, info = _load(trained / folder)
    names = [k.split("/", 1)[1] for k in arrays if k.startswith("single/")]
    assert len(names) == len(info["paths"])
    for name, path in zip(names, info["paths"], strict=True):
        single, distributed = arrays[f"single/{name}"], arrays[f"distributed/{name}"]
        np.testing.assert_allclose(distributed, single, atol=ATOL, rtol=0, err_msg=path)
    # The seed state advanced exactly as on one device (noise, EMA steps).
    seed = names[-1]
    np.testing.assert_array_equal(
        arrays[f"distributed/{seed}"], arrays[f"single/{seed}"]
    )


@pytest.mark.parametrize(("kind", "folder"), RUNS)
def test_saved_under_distribution_loads_on_one_device(trained, kind, folder):
    from keras_mae.models import GAN, MixtureAutoencoder

    folder = trained / folder
    arrays, _ = _load(folder)
    expected = arrays["outputs_distributed"]
    cls = GAN if kind == "gan" else MixtureAutoencoder
    from_preset = cls.from_preset(folder / "preset")
    np.testing.assert_allclose(
        _outputs(kind, from_preset, arrays["inputs"]), expected, atol=1e-6, rtol=0
    )
    from_file = keras.saving.load_model(folder / "model.keras")
    np.testing.assert_allclose(
        _outputs(kind, from_file, arrays["inputs"]), expected, atol=1e-6, rtol=0
    )


def test_backup_and_restore_resumes_under_distribution(trained):
    # Killed (here: stopped) after epoch 1 of 2, resumed by a new model.
    _, info = _load(trained / "gan")
    assert info["resumed_max_difference"] == 0.0


@only_on["jax"]
@pytest.mark.parametrize("kind", KINDS)
def test_jax_data_parallel_replicates_variables_and_optimizer_state(trained, kind):
    _, info = _load(trained / kind)
    layout = info["layout"]
    assert layout["devices"] == [4]
    assert layout["replicated"] == layout["variables"]


@only_on["jax"]
@pytest.mark.parametrize("kind", KINDS)
def test_jax_model_parallel_shards_the_layout_map_and_its_optimizer_state(
    trained, kind
):
    from tests.distribution.models import MODEL_LAYOUTS

    _, info = _load(trained / f"{kind}-model")
    layout = info["layout"]
    sharded = layout["sharded"]
    # Exactly the layout map's variables are sharded (the GAN's EMA copy of
    # the generator shares its paths) ...
    assert sharded
    for path in info["paths"][:-1]:
        matched = any(re.fullmatch(key, path) for key in MODEL_LAYOUTS[kind])
        assert (path in sharded) == matched, path
    # ... and their optimizer slots (momentum) with them.
    optimizer_sharded = layout["variables"] - layout["replicated"] - len(sharded)
    assert optimizer_sharded > 0


@only_on["jax"]
@pytest.mark.parametrize("folder", ["mae", "mae-model"])
def test_jax_reseeding_under_distribution_follows_one_device(trained, folder):
    # reseed_component (a nested `fit` of the assignment network with Adam)
    # on the trained MAE, sharded and on one device: Adam's first steps turn
    # float differences into differences of order lr, so the test compares
    # its outcome, not the weights.
    arrays, _ = _load(trained / folder)
    assert arrays["distributed_reseed/count"] == arrays["single_reseed/count"] > 0
    agreement = np.mean(
        arrays["distributed_reseed/labels"] == arrays["single_reseed/labels"]
    )
    assert agreement >= 0.98


@only_on["tensorflow"]
@pytest.mark.parametrize("kind", KINDS)
def test_mirrored_strategy_mirrors_variables_and_optimizer_state(trained, kind):
    _, info = _load(trained / kind)
    layout = info["layout"]
    assert layout["devices"] == [2]
    assert layout["replicated"] == layout["variables"]


@pytest.mark.parametrize("draw", ["noise", "augmented"])
def test_replicas_draw_their_own_noise_and_augmentation(trained, draw):
    # Each replica of a TF / torch step draws from the shared seed state
    # offset by its index (ReplicaSeeds): the GAN's noise and RandomAffine's
    # transforms. JAX draws once for the global batch.
    if BACKEND == "jax":
        pytest.skip("keras.distribution draws the global batch's noise at once")
    if BACKEND == "tensorflow":
        first, second = np.load(trained / "gan" / "replica_draws.npz")[draw]
    else:
        first, second = (
            np.load(trained / "gan" / f"draws{rank}.npz")[draw] for rank in (0, 1)
        )
    assert first.shape == second.shape
    assert np.abs(first - second).max() > 0.01


@only_on["torch"]
@pytest.mark.parametrize("kind", [*KINDS, "mae-neighbors"])
def test_torch_processes_keep_identical_weights(trained, kind):
    # Every process applies the same all-reduced gradients: bit for bit.
    rank0 = np.load(trained / kind / "rank0.npz")
    rank1 = np.load(trained / kind / "rank1.npz")
    for name in rank0:
        np.testing.assert_array_equal(rank0[name], rank1[name])
