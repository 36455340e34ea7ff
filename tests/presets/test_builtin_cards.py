"""Every built-in preset loads on this backend and does what its card says.

The numbers come from each card's `model-index` (written by `keras-mae card`).
Each check re-measures a small slice here:

- clustering ACC/NMI of a MixtureAutoencoder on 2,000 MNIST test images (or
  all 1,797 digits), and a classifier's accuracy on 2,000 test images: the
  weights are the same on every backend and the outputs agree within 1e-5
  (checked below), so only a sample whose two best components (classes) are
  that close can change its label. Allowed: 0.005, ten images of 2,000;
- the GAN's Fréchet distance of 2,000 samples from fixed NumPy codes: the
  same images on every backend up to float rounding, so the only difference
  is rounding in the features and in `sqrtm`; allowed 1% of the value.

Outputs for fixed inputs are compared with `tests/data/builtin_outputs.npz`
(written on JAX by `python -m tests.presets.test_builtin_cards`) within 1e-5.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_mae
from keras_mae.cli import card
from keras_mae.cli.data import load_data, load_split
from keras_mae.metrics import clustering_scores
from keras_mae.presets import registry
from tests.conftest import MNIST_PATH

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "data" / "builtin_outputs.npz"
LABEL_TOLERANCE = 0.005
FD_TOLERANCE = 0.01
OUTPUT_TOLERANCE = 1e-5
NAMES = sorted(registry.BUILTIN_PRESETS)


def _card_value(info, name: str, split_start: str) -> float:
    readme = ROOT / "weights_cards" / info.folder / "README.md"
    found = [
        r["value"]
        for r in card.read_results(readme)
        if r["name"] == name and r["split"].startswith(split_start)
    ]
    assert len(found) == 1, f"{info.name}: card has {found} for {name} {split_start}"
    return found[0]


def _fixed_input(model) -> np.ndarray:
    rng = np.random.default_rng(0)
    if hasattr(model, "predict_clusters"):
        shape = model.data_shape
    elif hasattr(model, "predict_classes"):
        shape = model.image_shape
    else:  # a GAN: codes
        return rng.standard_normal((8, model.latent_dim)).astype("float32")
    return rng.uniform(size=(8, *shape)).astype("float32")


def _outputs(model, x) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return model.predict_proba(x)
    return np.asarray(model.predict(x, verbose=0))


def _mnist_needed(info):
    if info.metadata.get("dataset") == "mnist" and not os.path.exists(MNIST_PATH):
        pytest.skip(f"MNIST not found at {MNIST_PATH}")
    os.environ.setdefault("KERAS_MAE_MNIST", MNIST_PATH)


@pytest.fixture(scope="module")
def loaded():
    return {}


def _load(loaded, name):
    if name not in loaded:
        loaded[name] = keras_mae.from_preset(name)
    return loaded[name]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_agree_with_the_reference_backend(name, loaded):
    model = _load(loaded, name)
    reference = np.load(REFERENCE)
    np.testing.assert_allclose(
        _outputs(model, _fixed_input(model)),
        reference[name],
        atol=OUTPUT_TOLERANCE,
        rtol=0,
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_card_numbers_hold_on_this_backend(name, loaded, monkeypatch):
    info = registry.BUILTIN_PRESETS[name]
    _mnist_needed(info)
    model = _load(loaded, name)
    data = info.metadata["dataset"]
    if hasattr(model, "predict_classes"):
        _, (x, y) = load_split(data)
        n = card.CHECK_SLICE
        accuracy = np.mean(model.predict_classes(x[:n]) == y[:n])
        expected = _card_value(info, "accuracy", f"test[:{n}]")
        assert abs(accuracy - expected) <= LABEL_TOLERANCE
    elif hasattr(model, "predict_clusters"):
        if data == "digits":
            x, y = load_data(data)
            split = "all"
        else:
            _, (x, y) = load_split(data)
            x, y = x[: card.CHECK_SLICE], y[: card.CHECK_SLICE]
            split = f"test[:{card.CHECK_SLICE}]"
        scores = clustering_scores(y, model.predict_clusters(x))
        for key in ("acc", "nmi"):
            expected = _card_value(info, key, split)
            assert abs(scores[key] - expected) <= LABEL_TOLERANCE, (key, scores)
    else:
        (x_train, _), (x_test, _) = load_split(data)
        n = card.CHECK_SLICE
        samples = np.asarray(model.predict(card.check_latents(model, n), verbose=0))
        fd = card.generative_scores(samples, x_train[:n], x_test[:n])["fd"]
        expected = _card_value(info, "fd", f"{n:,} samples of NumPy codes")
        assert abs(fd - expected) <= FD_TOLERANCE * expected, (fd, expected)


def write_reference() -> None:
    """Writes the outputs of every built-in preset on this backend."""
    outputs = {}
    for name in NAMES:
        model = keras_mae.from_preset(name)
        outputs[name] = _outputs(model, _fixed_input(model))
    np.savez(REFERENCE, **outputs)
    print(f"wrote {REFERENCE}: {sorted(outputs)}")


if __name__ == "__main__":
    sys.exit(write_reference())
