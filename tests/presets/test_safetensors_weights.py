"""Format-2 weights: safetensors files, their checks, and format-1 presets.

- round trips of real models (float32 exact, float16 close and half the size,
  training state exact);
- every refusal of `safetensors_file.read`, both called directly and through
  `from_preset` (with `metadata.json` re-hashed, so that the sha256 check
  passes and the safetensors check is the one that fails);
- the committed format-1 presets (`weights_cards/format1-test-fixtures/`, saved by
  keras_mae 0.1.0 on JAX) still load, and `keras-mae convert` turns them
  into format-2 presets with the same outputs.
"""

import json
import shutil
import struct
from pathlib import Path

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from keras_mae.cli.main import main
from keras_mae.datasets import load_digits
from keras_mae.models import GAN, MixtureAutoencoder
from keras_mae.presets import (
    from_preset,
    integrity,
    safetensors_file,
    weights,
    weights_h5,
)
from keras_mae.presets.safetensors_file import MAX_HEADER_BYTES
from tests.presets import models_for_tests as m

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = (
    Path(__file__).resolve().parents[2] / "weights_cards" / "format1-test-fixtures"
)
LEGACY_GAN = FIXTURES / "gan"
LEGACY_MAE = FIXTURES / "mae"


# ----------------------------------------------------------------------
# Helpers.
def rehash(folder: Path, name: str) -> None:
    """Records file `name`'s current sha256 and size in `metadata.json`."""
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["files"][name] = {
        "sha256": integrity.sha256_of(folder / name),
        "size": (folder / name).stat().st_size,
    }
    path.write_text(json.dumps(metadata))


def rewrite_tensors(folder: Path, name: str, edit) -> None:
    """Rewrites safetensors file `name` with `edit(tensors)`, then re-hashes it."""
    tensors = load_file(str(folder / name))
    edit(tensors)
    save_file(tensors, str(folder / name), metadata={"format": "keras_mae"})
    rehash(folder, name)


def raw_file(path: Path, header: bytes, length: int | None = None, data=b""):
    """A file of an 8-byte little-endian header length, `header` and `data`."""
    length = len(header) if length is None else length
    path.write_bytes(struct.pack("<Q", length) + header + data)
    return path


def numpy(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def small_gan(seed: int = 0) -> GAN:
    keras.utils.set_random_seed(seed)
    generator = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu")]
        + [keras.layers.Dense(3)],
        name="generator",
    )
    discriminator = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(8, activation="relu")]
        + [keras.layers.Dense(1)],
        name="discriminator",
    )
    gan = GAN(generator, discriminator, latent_dim=4, seed=seed)
    gan.compile()
    data = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    gan.fit(data, batch_size=16, epochs=1, verbose=0, shuffle=False)
    return gan


@pytest.fixture(scope="module")
def gan():
    return small_gan()


@pytest.fixture(scope="module")
def gan_preset(gan, tmp_path_factory):
    return gan.save_to_preset(tmp_path_factory.mktemp("gan") / "gan")


@pytest.fixture(scope="module")
def digits():
    return load_digits()[0][:128]


@pytest.fixture(scope="module")
def mae(digits):
    keras.utils.set_random_seed(0)
    model = MixtureAutoencoder(
        3, latent_dim=2, input_shape=(8, 8, 1), hidden_units=(16,), seed=0
    )
    model.compile()
    model.fit(digits, batch_size=32, epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def pristine_preset(tmp_path_factory):
    return m.make_trained_model().save_to_preset(tmp_path_factory.mktemp("p") / "p")


@pytest.fixture
def preset(pristine_preset, tmp_path):
    """A fresh copy of a small trained model's preset, for this test to tamper with."""
    return Path(shutil.copytree(pristine_preset, tmp_path / "p"))


# ----------------------------------------------------------------------
# The flat map.
def test_flat_map_keys_are_the_keras_weights_file_paths(tmp_path):
    dense = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((3,)), dense])
    tensors = weights.inference_tensors(model)
    assert sorted(tensors) == ["layers/dense/vars/0", "layers/dense/vars/1"]
    np.testing.assert_array_equal(tensors["layers/dense/vars/0"], numpy(dense.kernel))
    np.testing.assert_array_equal(tensors["layers/dense/vars/1"], numpy(dense.bias))
    # The very paths of the datasets in Keras' own `.weights.h5` file.
    model.save_weights(tmp_path / "model.weights.h5")
    keras_file = weights_h5.legacy_tensors(tmp_path / "model.weights.h5")
    assert keras_file.keys() == tensors.keys()
    # And what `save_inference` writes, in the safetensors header.
    weights.save_inference(model, tmp_path / "model.safetensors")
    header = safetensors_file.read_header(tmp_path / "model.safetensors", "t")
    assert header == {
        "layers/dense/vars/0": ((3, 2), "float32"),
        "layers/dense/vars/1": ((2,), "float32"),
    }


# ----------------------------------------------------------------------
# Round trips.
def test_gan_round_trip_is_exact(gan, gan_preset):
    metadata = json.loads((gan_preset / "metadata.json").read_text())
    assert metadata["format_version"] == integrity.FORMAT_VERSION == 2
    assert sorted(metadata["files"]) == [
        "config.json",
        "model.safetensors",
        "training_state.safetensors",
    ]
    header = safetensors_file.read_header(gan_preset / "model.safetensors", "t")
    assert not any("discriminator" in k or "optimizer" in k for k in header)
    loaded = from_preset(str(gan_preset))
    assert type(loaded) is GAN
    z = m.latent_inputs(4)
    np.testing.assert_array_equal(m.outputs(loaded, z), m.outputs(gan, z))
    np.testing.assert_array_equal(loaded.generate(8, seed=0), gan.generate(8, seed=0))
    for saved, restored in zip(
        weights.inference_tensors(gan).values(),
        weights.inference_tensors(loaded).values(),
        strict=True,
    ):
        np.testing.assert_array_equal(restored, saved)


def test_mixture_autoencoder_round_trip_float32_and_float16(mae, digits, tmp_path):
    full = mae.save_to_preset(tmp_path / "full")
    half = mae.save_to_preset(tmp_path / "half", weights_dtype="float16")
    x = digits[:16]
    expected = m.preset_outputs(mae, x)
    np.testing.assert_array_equal(m.preset_outputs(from_preset(str(full)), x), expected)

    # float16: about half the file; floats stored as float16, integers exact.
    sizes = [(p / "model.safetensors").stat().st_size for p in (full, half)]
    assert 0.45 * sizes[0] < sizes[1] < 0.55 * sizes[0]
    header = safetensors_file.read_header(half / "model.safetensors", "t")
    full_header = safetensors_file.read_header(full / "model.safetensors", "t")
    assert header.keys() == full_header.keys()
    for key, (shape, dtype) in full_header.items():
        assert header[key] == (shape, "float16" if dtype == "float32" else dtype)
    assert any(dtype.startswith(("int", "uint")) for _, dtype in header.values())
    loaded = from_preset(str(half))
    for original, restored in zip(mae.weights, loaded.weights, strict=True):
        assert restored.dtype == original.dtype
    np.testing.assert_allclose(m.preset_outputs(loaded, x), expected, atol=2e-2)
    agree = loaded.predict_clusters(digits) == mae.predict_clusters(digits)
    assert agree.mean() > 0.95


def test_training_state_round_trip(gan, gan_preset):
    header = safetensors_file.read_header(
        gan_preset / "training_state.safetensors", "t"
    )
    scalars = [k for k, (shape, _) in header.items() if shape == ()]
    assert scalars  # step counters and learning rates, as 0-d tensors
    resumed = from_preset(str(gan_preset), load_training_state=True)
    assert int(numpy(resumed.optimizer.iterations)) == 2  # two batches of 16
    assert resumed.optimizer.iterations.shape == ()
    for name in ("generator", "discriminator"):
        saved = gan.player_optimizer(name)
        restored = resumed.player_optimizer(name)
        assert int(numpy(restored.iterations)) == int(numpy(saved.iterations)) > 0
        assert restored.iterations.shape == ()
    saved, restored = gan.optimizer.variables, resumed.optimizer.variables
    assert len(saved) == len(restored) > 4
    for before, after in zip(saved, restored, strict=True):
        assert tuple(after.shape) == tuple(before.shape)
        np.testing.assert_array_equal(numpy(after), numpy(before))
    assert any(tuple(v.shape) == () for v in restored)
    for before, after in zip(
        gan.discriminator.weights, resumed.discriminator.weights, strict=True
    ):
        np.testing.assert_array_equal(numpy(after), numpy(before))


def test_mixture_autoencoder_training_state_round_trip(mae, tmp_path):
    folder = mae.save_to_preset(tmp_path / "p")
    resumed = from_preset(str(folder), load_training_state=True)
    saved, restored = mae.optimizer.variables, resumed.optimizer.variables
    assert len(saved) == len(restored) > 4
    for before, after in zip(saved, restored, strict=True):
        assert tuple(after.shape) == tuple(before.shape)
        np.testing.assert_array_equal(numpy(after), numpy(before))
    assert int(numpy(resumed.optimizer.iterations)) == 4  # 128 samples, batch 32


# ----------------------------------------------------------------------
# `safetensors_file.read`, called directly.
EXPECTED = {"a": ((2, 3), "float32"), "b": ((4,), "int32")}


def _write(path, **tensors):
    defaults = {"a": np.ones((2, 3), "float32"), "b": np.arange(4, dtype="int32")}
    defaults.update(tensors)
    safetensors_file.write(path, {k: v for k, v in defaults.items() if v is not None})
    return path


def test_read_accepts_a_matching_file(tmp_path):
    path = _write(tmp_path / "w.safetensors")
    loaded = safetensors_file.read(path, EXPECTED, "src")
    np.testing.assert_array_equal(loaded["a"], np.ones((2, 3)))
    assert loaded["a"].dtype == np.float32 and loaded["b"].dtype == np.int32
    # A 0-d tensor stays 0-d.
    safetensors_file.write(tmp_path / "s.safetensors", {"step": np.int64(7)})
    loaded = safetensors_file.read(
        tmp_path / "s.safetensors", {"step": ((), "int64")}, "src"
    )
    assert loaded["step"].shape == () and int(loaded["step"]) == 7


@pytest.mark.parametrize(
    "tensors, message",
    [
        ({"a": np.ones((3, 2), "float32")}, r"tensor 'a' .*shape \(3, 2\).*\(2, 3\)"),
        ({"a": np.ones((2, 3), "float64")}, "tensor 'a' .*is float64.*expects float32"),
        ({"a": np.ones((2, 3), "float16")}, "tensor 'a' .*is float16.*expects float32"),
        ({"b": np.arange(4.0, dtype="float32")}, "tensor 'b' .*is float32"),
        ({"a": None}, "missing 'a'"),
        ({"c": np.zeros(1, "float32")}, "unexpected 'c'"),
        ({"a": None, "c": np.zeros(1)}, "missing 'a'; unexpected 'c'"),
    ],
    ids=["shape", "float64", "float16", "int_as_float", "missing", "extra", "both"],
)
def test_read_refuses_a_mismatch(tmp_path, tensors, message):
    path = _write(tmp_path / "w.safetensors", **tensors)
    with pytest.raises(ValueError, match=message) as info:
        safetensors_file.read(path, EXPECTED, "src")
    assert "Preset src" in str(info.value) and "'w.safetensors'" in str(info.value)


def test_float16_is_accepted_only_for_float16_presets(tmp_path):
    values = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    path = _write(tmp_path / "w.safetensors", a=values.astype("float16"))
    loaded = safetensors_file.read(path, EXPECTED, "src", stored_float16=True)
    assert loaded["a"].dtype == np.float32
    np.testing.assert_allclose(loaded["a"], values, atol=1e-3)
    # Never into integers or float64, even for float16 presets.
    with pytest.raises(ValueError, match="tensor 'a' .*float16.*expects float64"):
        safetensors_file.read(path, {**EXPECTED, "a": ((2, 3), "float64")}, "src", True)
    wide = _write(tmp_path / "x.safetensors", a=values.astype("float64"))
    with pytest.raises(ValueError, match="tensor 'a' .*is float64"):
        safetensors_file.read(wide, EXPECTED, "src", stored_float16=True)


def test_integers_change_width_only_when_their_values_fit(tmp_path):
    path = _write(tmp_path / "w.safetensors", b=np.arange(4, dtype="uint32"))
    loaded = safetensors_file.read(path, EXPECTED, "src")
    assert loaded["b"].dtype == np.int32
    np.testing.assert_array_equal(loaded["b"], np.arange(4))
    big = np.array([0, 1, 2, 2**40], "int64")
    path = _write(tmp_path / "big.safetensors", b=big)
    with pytest.raises(ValueError, match="tensor 'b' .*'big.safetensors'.*outside"):
        safetensors_file.read(path, EXPECTED, "src")


def test_header_larger_than_the_limit_is_refused(tmp_path):
    path = raw_file(tmp_path / "w.safetensors", b"", length=MAX_HEADER_BYTES + 1)
    with open(path, "r+b") as f:  # a sparse file long enough for the header
        f.truncate(MAX_HEADER_BYTES + 100)
    with pytest.raises(ValueError, match="'w.safetensors' declares a") as info:
        safetensors_file.read(path, EXPECTED, "src")
    assert f"{MAX_HEADER_BYTES + 1}-byte header" in str(info.value)
    assert f"limit {MAX_HEADER_BYTES}" in str(info.value)


def test_header_larger_than_the_file_is_refused(tmp_path):
    path = raw_file(tmp_path / "w.safetensors", b'{"a": 1}', length=1000)
    with pytest.raises(ValueError, match="'w.safetensors' declares a 1000-byte"):
        safetensors_file.read(path, EXPECTED, "src")
    # A huge length, as random bytes give.
    path = raw_file(tmp_path / "w.safetensors", b"{}", length=2**63)
    with pytest.raises(ValueError, match=f"declares a {2**63}-byte header"):
        safetensors_file.read_header(path, "src")


@pytest.mark.parametrize(
    "header, message",
    [
        (b"{not json}", "header of 'w.safetensors' is not JSON"),
        (b"{\xc3\x28}", "header of 'w.safetensors' is not JSON"),
        (b"[1, 2]", "header of 'w.safetensors' is not a map"),
        (
            b'{"a": {"dtype": "STRING", "shape": [1], "data_offsets": [0, 1]}}',
            "tensor 'a' in 'w.safetensors' has dtype 'STRING'",
        ),
        (b'{"a": [1]}', "tensor 'a' in 'w.safetensors' has dtype None"),
    ],
    ids=["not_json", "not_utf8", "not_a_map", "unknown_dtype", "not_an_entry"],
)
def test_malformed_header_is_refused(tmp_path, header, message):
    path = raw_file(tmp_path / "w.safetensors", header, data=b"\0" * 8)
    with pytest.raises(ValueError, match=message):
        safetensors_file.read(path, {"a": ((1,), "float32")}, "src")


def test_file_too_short_for_a_header_length(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"abc")
    with pytest.raises(ValueError, match="'w.safetensors' is not a safetensors"):
        safetensors_file.read(path, EXPECTED, "src")


def test_data_shorter_than_the_header_says(tmp_path):
    path = _write(tmp_path / "w.safetensors")
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match="'w.safetensors' could not be read"):
        safetensors_file.read(path, EXPECTED, "src")


# ----------------------------------------------------------------------
# The same refusals through `from_preset`.
INFERENCE = "model.safetensors"
KERNEL = "generator/layers/dense/vars/0"


def _expect_refusal(preset, message, **kwargs):
    with pytest.raises(ValueError, match=message) as info:
        from_preset(str(preset), **kwargs)
    assert str(preset) in str(info.value)
    return info


def test_rehash_is_what_lets_an_edited_file_reach_the_safetensors_check(preset):
    tensors = load_file(str(preset / INFERENCE))
    tensors[KERNEL] = tensors[KERNEL].T.copy()
    save_file(tensors, str(preset / INFERENCE), metadata={"format": "keras_mae"})
    _expect_refusal(preset, "sha256 mismatch for file 'model.safetensors'")
    rehash(preset, INFERENCE)
    _expect_refusal(preset, f"tensor '{KERNEL}' in 'model.safetensors' has shape")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.update({KERNEL: t[KERNEL].reshape(8, 3).copy()}),
            rf"tensor '{KERNEL}' in 'model.safetensors' has shape \(8, 3\); the "
            r"model expects \(3, 8\)",
        ),
        (
            lambda t: t.update({KERNEL: t[KERNEL].astype("float64")}),
            f"tensor '{KERNEL}' in 'model.safetensors' is float64; the model "
            "expects float32",
        ),
        (
            lambda t: t.update({KERNEL: t[KERNEL].astype("float16")}),
            f"tensor '{KERNEL}' in 'model.safetensors' is float16",
        ),
        (
            lambda t: t.pop(KERNEL),
            f"'model.safetensors' does not match the model's variables: "
            f"missing '{KERNEL}'",
        ),
        (
            lambda t: t.update({"generator/layers/dense_9/vars/0": np.zeros(2)}),
            "'model.safetensors' does not match the model's variables: "
            "unexpected 'generator/layers/dense_9/vars/0'",
        ),
    ],
    ids=["shape", "float64", "float16_not_declared", "missing", "extra"],
)
def test_from_preset_refuses_mismatched_weights(preset, edit, message):
    rewrite_tensors(preset, INFERENCE, edit)
    _expect_refusal(preset, message)


def test_from_preset_accepts_float16_only_when_the_preset_says_so(preset):
    x = m.sample_inputs()
    expected = m.outputs(from_preset(str(preset)), x)
    rewrite_tensors(
        preset,
        INFERENCE,
        lambda t: t.update({k: v.astype("float16") for k, v in t.items()}),
    )
    _expect_refusal(preset, "is float16; the model expects float32")
    metadata = json.loads((preset / "metadata.json").read_text())
    metadata["weights_dtype"] = "float16"
    (preset / "metadata.json").write_text(json.dumps(metadata))
    np.testing.assert_allclose(
        m.outputs(from_preset(str(preset)), x), expected, atol=1e-2
    )


def test_from_preset_refuses_a_mismatched_training_state(preset):
    name = "training_state.safetensors"
    key = "training_layers/sequential/layers/dense/vars/0"
    rewrite_tensors(preset, name, lambda t: t.update({key: t[key][:1].copy()}))
    assert type(from_preset(str(preset))) is m.PresetTestModel  # not read
    _expect_refusal(
        preset, f"tensor '{key}' in '{name}' has shape", load_training_state=True
    )


def test_training_state_is_never_read_as_float16(preset):
    """`weights_dtype="float16"` is about the inference weights only."""
    name = "training_state.safetensors"
    metadata = json.loads((preset / "metadata.json").read_text())
    metadata["weights_dtype"] = "float16"
    (preset / "metadata.json").write_text(json.dumps(metadata))
    rewrite_tensors(
        preset,
        name,
        lambda t: t.update(
            {k: v.astype("float16") for k, v in t.items() if v.dtype == "float32"}
        ),
    )
    _expect_refusal(
        preset,
        f"in '{name}' is float16; the model expects float32",
        load_training_state=True,
    )


@pytest.mark.parametrize(
    "length, header, message",
    [
        (MAX_HEADER_BYTES + 1, b"", f"declares a {MAX_HEADER_BYTES + 1}-byte header"),
        (10**6, b"{}", "declares a 1000000-byte header"),
        (None, b"{not json}", "the header of 'model.safetensors' is not JSON"),
    ],
    ids=["over_the_limit", "over_the_file", "not_json"],
)
def test_from_preset_refuses_a_malformed_header(preset, length, header, message):
    path = raw_file(preset / INFERENCE, header, length, data=b"\0" * 64)
    if length == MAX_HEADER_BYTES + 1:
        with open(path, "r+b") as f:
            f.truncate(MAX_HEADER_BYTES + 100)
    rehash(preset, INFERENCE)
    info = _expect_refusal(preset, message)
    assert "'model.safetensors'" in str(info.value)


# ----------------------------------------------------------------------
# Format 1: the committed presets of keras_mae 0.1.0.
@pytest.fixture(scope="module")
def legacy_outputs():
    with np.load(DATA / "legacy_outputs.npz") as data:
        return dict(data)


def test_legacy_fixtures_are_format_1():
    for folder in (LEGACY_GAN, LEGACY_MAE):
        metadata = json.loads((folder / "metadata.json").read_text())
        assert metadata["format_version"] == 1 and metadata["backend"] == "jax"
        assert sorted(metadata["files"]) == [
            "model.weights.h5",
            "training_state.weights.h5",
        ]
        assert not list(folder.glob("*.safetensors"))


def test_legacy_gan_reproduces_its_outputs(legacy_outputs):
    model = from_preset(str(LEGACY_GAN))
    assert type(model) is GAN
    np.testing.assert_allclose(
        m.outputs(model, legacy_outputs["gan_z"]),
        legacy_outputs["gan_out"],
        rtol=0,
        atol=1e-6,
    )


def test_legacy_gan_training_state_loads(legacy_outputs):
    model = from_preset(str(LEGACY_GAN), load_training_state=True)
    np.testing.assert_allclose(
        m.outputs(model, legacy_outputs["gan_z"]), legacy_outputs["gan_out"], atol=1e-6
    )
    # Two steps of 64 on 128 samples, with two discriminator steps per step.
    assert int(numpy(model.player_optimizer("generator").iterations)) == 2
    assert int(numpy(model.player_optimizer("discriminator").iterations)) == 4
    # Every optimizer variable and discriminator weight is the one in the file.
    stored = weights_h5.legacy_tensors(LEGACY_GAN / "training_state.weights.h5")
    layer_values = [
        v for k, v in sorted(stored.items()) if k.startswith("training_layers/")
    ]
    assert len(layer_values) == len(model.discriminator.weights)
    stored_values = sorted(
        (v.shape, v.astype("float64").ravel().tolist()) for v in layer_values
    )
    loaded_values = sorted(
        (numpy(w).shape, numpy(w).astype("float64").ravel().tolist())
        for w in model.discriminator.weights
    )
    assert loaded_values == stored_values


def test_legacy_mae_reproduces_its_outputs(legacy_outputs):
    model = from_preset(str(LEGACY_MAE))
    assert type(model) is MixtureAutoencoder
    np.testing.assert_allclose(
        model.predict_proba(legacy_outputs["mae_x"]),
        legacy_outputs["mae_proba"],
        rtol=0,
        atol=1e-3,
    )
    resumed = from_preset(str(LEGACY_MAE), load_training_state=True)
    assert int(numpy(resumed.optimizer.iterations)) > 0


@pytest.mark.parametrize("kind", ["gan", "mae"])
def test_convert_of_a_legacy_preset(kind, legacy_outputs, tmp_path, capsys):
    source = LEGACY_GAN if kind == "gan" else LEGACY_MAE
    output = tmp_path / kind
    assert main(["convert", str(source), str(output)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format_version"] == 2 and report["training_state"] is True

    old = json.loads((source / "metadata.json").read_text())
    new = json.loads((output / "metadata.json").read_text())
    assert new["format_version"] == 2
    assert sorted(new["files"]) == [
        "config.json",
        "model.safetensors",
        "training_state.safetensors",
    ]
    assert sorted(p.name for p in output.iterdir()) == sorted(
        [*new["files"], "metadata.json", "README.md"]
    )
    for key in ("metrics", "weights_dtype", "training_state", "registered_name"):
        assert new[key] == old[key], key
    assert new["weights_dtype"] == (None if kind == "gan" else "float16")
    assert (output / "README.md").read_bytes() == (source / "README.md").read_bytes()

    # The same arrays under the same paths, only in another file format.
    for legacy, current in [
        ("model.weights.h5", "model.safetensors"),
        ("training_state.weights.h5", "training_state.safetensors"),
    ]:
        before = weights_h5.legacy_tensors(source / legacy)
        after = load_file(str(output / current))
        assert before.keys() == after.keys(), current
        for key, array in before.items():
            assert after[key].shape == array.shape, key
            if array.dtype.kind == "f":
                assert after[key].dtype == array.dtype, key
            np.testing.assert_array_equal(after[key], array.astype(after[key].dtype))

    converted = from_preset(str(output), load_training_state=True)
    if kind == "gan":
        np.testing.assert_allclose(
            m.outputs(converted, legacy_outputs["gan_z"]),
            legacy_outputs["gan_out"],
            atol=1e-6,
        )
    else:
        np.testing.assert_allclose(
            converted.predict_proba(legacy_outputs["mae_x"]),
            legacy_outputs["mae_proba"],
            atol=1e-3,
        )
        original = from_preset(str(source))
        np.testing.assert_array_equal(
            converted.predict_proba(legacy_outputs["mae_x"]),
            original.predict_proba(legacy_outputs["mae_x"]),
        )


def test_convert_can_change_the_legacy_weights_dtype(tmp_path, legacy_outputs):
    output = tmp_path / "mae32"
    argv = ["convert", str(LEGACY_MAE), str(output), "--weights-dtype", "float32"]
    assert main([*argv, "--inference-only"]) == 0
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["weights_dtype"] is None and metadata["training_state"] is None
    assert sorted(metadata["files"]) == ["config.json", "model.safetensors"]
    header = safetensors_file.read_header(output / "model.safetensors", "t")
    assert "float16" not in {dtype for _, dtype in header.values()}
    np.testing.assert_allclose(
        from_preset(str(output)).predict_proba(legacy_outputs["mae_x"]),
        legacy_outputs["mae_proba"],
        atol=1e-3,
    )


def test_a_legacy_copy_is_checked_like_any_preset(tmp_path):
    folder = Path(shutil.copytree(LEGACY_GAN, tmp_path / "legacy"))
    data = bytearray((folder / "model.weights.h5").read_bytes())
    data[-100] ^= 0xFF
    (folder / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 mismatch for file 'model.weights.h5'"):
        from_preset(str(folder))
    # Not HDF5 at all, with a matching checksum: Keras' reader refuses it.
    (folder / "model.weights.h5").write_bytes(b"not an hdf5 file" * 100)
    rehash(folder, "model.weights.h5")
    with pytest.raises(
        ValueError, match="weights file 'model.weights.h5' could not be loaded"
    ):
        from_preset(str(folder))
    # Format 1 lists only weights files; a safetensors entry is refused.
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["files"]["model.safetensors"] = metadata["files"]["model.weights.h5"]
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="format 1.*'model.safetensors'"):
        from_preset(str(folder))
