"""Local presets: files written, round trips, training state, atomic writes."""

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_mae.models import ImageClassifier
from keras_mae.presets import from_preset, integrity, preset_metadata, weights
from tests.presets import models_for_tests as m

LEGACY_GAN = (
    Path(__file__).resolve().parents[2] / "weights_cards" / "format1-test-fixtures"
) / "gan"


def _tensors(path) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, by weights path."""
    return load_file(str(path))


def test_save_writes_the_preset_files(tmp_path):
    model = m.make_trained_model()
    target = model.save_to_preset(tmp_path / "p", metrics={"fid": np.float32(2.5)})
    assert sorted(os.listdir(target)) == [
        "README.md",
        "config.json",
        "metadata.json",
        "model.safetensors",
        "training_state.safetensors",
    ]
    metadata = json.loads((target / "metadata.json").read_text())
    assert metadata["format_version"] == 2
    assert metadata["backend"] == keras.backend.backend()
    assert metadata["keras_version"] == keras.__version__
    assert metadata["registered_name"] == "keras_mae>PresetTestModel"
    assert metadata["parameter_count"] == model.count_params() == 67
    assert metadata["inference_parameter_count"] == 67 - 17
    assert metadata["metrics"] == {"fid": 2.5}
    assert metadata["training_state"] == {
        "layers": ["discriminator"],
        "optimizer": True,
    }
    # Every file but the card is pinned by metadata.json: config.json too.
    assert sorted(metadata["files"]) == [
        "config.json",
        "model.safetensors",
        "training_state.safetensors",
    ]
    for name, record in metadata["files"].items():
        path = target / name
        assert record["size"] == path.stat().st_size
        assert record["sha256"] == integrity.sha256_of(path)
    assert json.loads((target / "config.json").read_text())["registered_name"] == (
        "keras_mae>PresetTestModel"
    )
    card = (target / "README.md").read_text()
    assert "keras_mae.PresetTestModel" in card and "| fid | 2.5 |" in card
    # No temporary folders are left next to the preset.
    assert os.listdir(tmp_path) == ["p"]


def test_inference_file_holds_no_training_state(tmp_path):
    model = m.make_trained_model()
    target = model.save_to_preset(tmp_path / "p")
    inference = _tensors(target / "model.safetensors")
    training = _tensors(target / "training_state.safetensors")
    assert all(p.startswith("generator/") for p in inference)
    assert not any("discriminator" in p or "optimizer" in p for p in inference)
    assert any(p.startswith("optimizer/vars/") for p in training)
    assert any(p.startswith("training_layers/") for p in training)
    assert not any("generator" in p for p in training)
    # Exactly the generator's 4 arrays are stored for inference, by path.
    assert sorted(inference) == [
        "generator/layers/dense/vars/0",
        "generator/layers/dense/vars/1",
        "generator/layers/dense_1/vars/0",
        "generator/layers/dense_1/vars/1",
    ]
    generator_arrays = [v.numpy() for v in model.generator.weights]
    for stored, array in zip(
        (inference[k] for k in sorted(inference)), generator_arrays, strict=True
    ):
        np.testing.assert_array_equal(stored, array)
    # The optimizer's state, with its 0-d step counter kept 0-d.
    assert training["optimizer/vars/0"].shape == ()
    assert int(training["optimizer/vars/0"]) == 2


def test_local_round_trip_gives_identical_outputs(tmp_path):
    model = m.make_trained_model()
    model.save_to_preset(tmp_path / "p")
    x = m.sample_inputs()
    loaded = from_preset(str(tmp_path / "p"))
    assert type(loaded) is m.PresetTestModel
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))
    fresh = from_preset(str(tmp_path / "p"), load_weights=False)
    assert np.abs(m.outputs(fresh, x) - m.outputs(model, x)).max() > 1e-3


def test_inference_load_leaves_training_state_fresh(tmp_path):
    model = m.make_trained_model()
    model.save_to_preset(tmp_path / "p")
    loaded = m.PresetTestModel.from_preset(tmp_path / "p")
    saved_kernel = model.discriminator.weights[0].numpy()
    assert not np.allclose(loaded.discriminator.weights[0].numpy(), saved_kernel)
    # Compiled from its compile config, with a new optimizer.
    assert loaded.compiled and int(loaded.optimizer.iterations.numpy()) == 0


def test_training_state_round_trip_and_resume(tmp_path):
    model = m.make_trained_model()
    model.save_to_preset(tmp_path / "p")
    loaded = m.PresetTestModel.from_preset(tmp_path / "p", load_training_state=True)
    for saved, restored in zip(
        model.discriminator.weights, loaded.discriminator.weights, strict=True
    ):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for saved, restored in zip(
        model.optimizer.variables, loaded.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved)
        )
    assert int(loaded.optimizer.iterations.numpy()) == 2
    # Resumed training continues from the restored state, as the original does.
    x, y = m.sample_inputs(8, seed=1), np.zeros((8, 2), "float32")
    m.fit(model, x, y)
    m.fit(loaded, x, y)
    np.testing.assert_allclose(
        m.outputs(loaded, x), m.outputs(model, x), rtol=1e-5, atol=1e-6
    )


def test_uncompiled_model_saves_no_optimizer_state(tmp_path):
    model = m.make_model()
    model.save_to_preset(tmp_path / "p")
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert metadata["training_state"] == {
        "layers": ["discriminator"],
        "optimizer": False,
    }
    loaded = from_preset(str(tmp_path / "p"), load_training_state=True)
    assert not loaded.compiled
    np.testing.assert_array_equal(
        loaded.discriminator.weights[0].numpy(), model.discriminator.weights[0].numpy()
    )


def test_model_without_training_state(tmp_path):
    model = m.PresetTestPlain()
    model.build((None, 3))
    model.save_to_preset(tmp_path / "p")
    assert not (tmp_path / "p" / "training_state.safetensors").exists()
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert sorted(metadata["files"]) == ["config.json", "model.safetensors"]
    with pytest.raises(ValueError, match="has no training state"):
        from_preset(str(tmp_path / "p"), load_training_state=True)
    with pytest.raises(ValueError, match="needs load_weights=True"):
        from_preset(str(tmp_path / "p"), load_weights=False, load_training_state=True)


def test_inference_only_preset(tmp_path):
    model = m.make_trained_model()
    folder = model.save_to_preset(tmp_path / "p", include_training_state=False)
    assert not (folder / "training_state.safetensors").exists()
    metadata = json.loads((folder / "metadata.json").read_text())
    assert sorted(metadata["files"]) == ["config.json", "model.safetensors"]
    assert metadata["training_state"] is None
    x = m.sample_inputs()
    np.testing.assert_array_equal(
        m.outputs(from_preset(str(folder)), x), m.outputs(model, x)
    )
    with pytest.raises(ValueError, match="saved inference-only"):
        from_preset(str(folder), load_training_state=True)
    # Re-saving a full preset as inference-only drops its training state.
    model.save_to_preset(tmp_path / "full")
    assert (tmp_path / "full" / "training_state.safetensors").exists()
    model.save_to_preset(tmp_path / "full", include_training_state=False)
    assert not (tmp_path / "full" / "training_state.safetensors").exists()


def _float16_test_model():
    model = ImageClassifier(10, input_shape=(16, 16, 1))
    model.compile()
    x = np.random.default_rng(0).random((32, 16, 16, 1), dtype=np.float32)
    model.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
    return model, x


def test_float16_weights_halve_the_file_and_load_back(tmp_path):
    model, x = _float16_test_model()
    full = model.save_to_preset(tmp_path / "full")
    half = model.save_to_preset(tmp_path / "half", weights_dtype="float16")
    full_size = (full / "model.safetensors").stat().st_size
    half_size = (half / "model.safetensors").stat().st_size
    assert 0.45 * full_size < half_size < 0.55 * full_size
    metadata = json.loads((half / "metadata.json").read_text())
    assert metadata["weights_dtype"] == "float16"
    assert json.loads((full / "metadata.json").read_text())["weights_dtype"] is None
    assert metadata["files"]["model.safetensors"]["size"] == half_size
    assert "stored as float16" in (half / "README.md").read_text()
    stored = _tensors(half / "model.safetensors")
    assert stored.keys() == _tensors(full / "model.safetensors").keys()
    assert stored and all(a.dtype == np.float16 for a in stored.values())
    # The training state (optimizer moments) stays exact.
    training = _tensors(half / "training_state.safetensors")
    assert training.keys() == _tensors(full / "training_state.safetensors").keys()
    assert any(a.dtype == np.float32 for a in training.values())
    assert not any(a.dtype == np.float16 for a in training.values())

    loaded = from_preset(str(half))
    for original, restored in zip(model.weights, loaded.weights, strict=True):
        assert restored.dtype == "float32"
        expected = original.numpy().astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(restored.numpy(), expected)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-2
    )


def test_preset_metadata_of_a_local_preset(tmp_path):
    model = m.make_trained_model()
    model.save_to_preset(tmp_path / "p", metrics={"fid": 2.5})
    metadata = preset_metadata(tmp_path / "p")
    assert metadata["metrics"] == {"fid": 2.5}
    assert metadata["registered_name"] == "keras_mae>PresetTestModel"
    (tmp_path / "p" / "metadata.json").write_text('{"format_version": 99}')
    with pytest.raises(ValueError, match="format version 99"):
        preset_metadata(tmp_path / "p")
    with pytest.raises(ValueError):
        preset_metadata(tmp_path / "missing")


def test_float16_refuses_weights_out_of_range_and_bad_dtypes(tmp_path):
    model, _ = _float16_test_model()
    kernel = model.weights[0]
    kernel.assign(keras.ops.full(kernel.shape, 1e5))
    with pytest.raises(ValueError, match=r"values up to 1e\+05, beyond its range"):
        model.save_to_preset(tmp_path / "p", weights_dtype="float16")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="`weights_dtype` must be one of"):
        model.save_to_preset(tmp_path / "p", weights_dtype="bfloat16")
    assert os.listdir(tmp_path) == []


def test_class_checks(tmp_path):
    base = m.make_model()
    base.save_to_preset(tmp_path / "base")
    sub = m.make_model(cls=m.PresetTestSubModel)
    sub.save_to_preset(tmp_path / "sub")
    assert type(m.PresetTestModel.from_preset(tmp_path / "sub")) is m.PresetTestSubModel
    with pytest.raises(ValueError, match="PresetTestSubModel.from_preset cannot load"):
        m.PresetTestSubModel.from_preset(tmp_path / "base")
    with pytest.raises(ValueError, match="PresetTestPlain.from_preset cannot load"):
        m.PresetTestPlain.from_preset(tmp_path / "base")


def test_overrides_update_the_config(tmp_path):
    m.make_model().save_to_preset(tmp_path / "p")
    loaded = from_preset(str(tmp_path / "p"), name="renamed", latent_dim=7)
    assert loaded.name == "renamed" and loaded.latent_dim == 7


def test_revision_is_refused_for_local_presets(tmp_path):
    m.make_model().save_to_preset(tmp_path / "p")
    with pytest.raises(ValueError, match="only applies to Hub presets"):
        from_preset(str(tmp_path / "p"), revision="main")


def test_resave_replaces_weights_and_keeps_the_card_and_extra_files(tmp_path):
    target = tmp_path / "p"
    m.make_model(seed=0).save_to_preset(target)
    (target / "README.md").write_text("my card\n")
    (target / "sample.png").write_bytes(b"png")
    second = m.make_model(seed=1)
    second.save_to_preset(target)
    assert (target / "README.md").read_text() == "my card\n"
    assert (target / "sample.png").read_bytes() == b"png"
    x = m.sample_inputs()
    np.testing.assert_array_equal(
        m.outputs(from_preset(str(target)), x), m.outputs(second, x)
    )
    assert sorted(os.listdir(tmp_path)) == ["p"]


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    model = m.make_trained_model()

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(weights, "save_training", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save_to_preset(tmp_path / "new")
    assert os.listdir(tmp_path) == []
    # An existing preset is left untouched by a failed re-save.
    monkeypatch.undo()
    model.save_to_preset(tmp_path / "old")
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    monkeypatch.setattr(weights, "save_training", fail)
    with pytest.raises(RuntimeError):
        m.make_trained_model(seed=3).save_to_preset(tmp_path / "old")
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert os.listdir(tmp_path) == ["old"]


def test_resaving_a_format_1_preset_replaces_its_h5_files(tmp_path):
    folder = Path(shutil.copytree(LEGACY_GAN, tmp_path / "legacy"))
    card = (folder / "README.md").read_bytes()
    (folder / "notes.txt").write_text("keep me")
    model = from_preset(str(folder), load_training_state=True)
    model.save_to_preset(folder)
    assert sorted(os.listdir(folder)) == [
        "README.md",
        "config.json",
        "metadata.json",
        "model.safetensors",
        "notes.txt",
        "training_state.safetensors",
    ]
    assert (folder / "README.md").read_bytes() == card
    assert (folder / "notes.txt").read_text() == "keep me"
    assert preset_metadata(folder)["format_version"] == 2
    x = m.latent_inputs(model.latent_dim)
    np.testing.assert_array_equal(
        m.outputs(from_preset(str(folder)), x), m.outputs(model, x)
    )


def test_refuses_to_overwrite_a_non_preset_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a keras_mae preset"):
        m.make_model().save_to_preset(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_unbuilt_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not built"):
        m.PresetTestPlain().save_to_preset(tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_bad_metrics_are_refused(tmp_path):
    with pytest.raises(TypeError, match="'fid' must be a number"):
        m.make_model().save_to_preset(tmp_path / "p", metrics={"fid": [1, 2]})
    assert not (tmp_path / "p").exists()
