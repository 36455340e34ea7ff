"""Built-in preset names: bundled copies and Hub downloads, pinned by content."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import keras_mae
from keras_mae.presets import PresetInfo, bundled, from_preset, integrity, registry
from tests.presets import models_for_tests as m

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "weights_cards"
REPO = "keras-mae-test/builtin"


def test_every_builtin_pin_matches_its_weights_card():
    """A card folder changed without its registry entry is caught here."""
    assert registry.BUILTIN_PRESETS, "no built-in presets registered"
    for name, info in registry.BUILTIN_PRESETS.items():
        folder = CARDS / info.folder
        metadata = json.loads((folder / integrity.METADATA_FILE).read_text())
        assert integrity.sha256_of(folder / "metadata.json") == info.metadata_sha256
        assert metadata["registered_name"] == info.model_class, name
        assert metadata["format_version"] == integrity.FORMAT_VERSION, name
        assert info.handle == f"hf://{registry.HUB_OWNER}/{info.folder}"
        for file_name in metadata["files"]:
            integrity.verify_file(folder / file_name, metadata, name)


def test_weights_cards_fit_the_size_budget():
    total = sum(p.stat().st_size for p in CARDS.rglob("*") if p.is_file())
    assert total <= 40 * 1024 * 1024, f"weights_cards/ holds {total} bytes"


@pytest.fixture
def tiny_builtin(tmp_path, monkeypatch):
    """A registered built-in whose bundled copy lives in a temporary root."""
    model = m.make_trained_model()
    root = tmp_path / "bundled"
    folder = model.save_to_preset(root / "tiny-test")
    info = PresetInfo(
        name="tiny_test",
        handle=f"hf://{REPO}",
        metadata_sha256=integrity.sha256_of(folder / "metadata.json"),
        model_class="keras_mae>PresetTestModel",
        description="A test preset.",
        folder="tiny-test",
    )
    monkeypatch.setitem(registry.BUILTIN_PRESETS, "tiny_test", info)
    monkeypatch.setattr(bundled, "bundled_roots", lambda: [root])
    return model, folder, info


def _no_bundled_copy(monkeypatch):
    monkeypatch.setattr(bundled, "bundled_roots", lambda: [])


def test_name_loads_the_bundled_copy_without_the_hub(tiny_builtin, fake_hub):
    model, _, _ = tiny_builtin
    loaded = m.PresetTestModel.from_preset("tiny_test")
    x = m.sample_inputs()
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))
    assert fake_hub.requests == []
    assert "tiny_test" in keras_mae.list_presets()


def test_tampered_bundled_metadata_is_refused_with_both_hashes(tiny_builtin):
    _, folder, info = tiny_builtin
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["metrics"] = {"acc": 1.0}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    actual = integrity.sha256_of(folder / "metadata.json")
    with pytest.raises(ValueError, match="metadata.json has sha256") as error:
        from_preset("tiny_test")
    assert actual in str(error.value) and info.metadata_sha256 in str(error.value)


def test_tampered_bundled_weights_are_refused(tiny_builtin):
    _, folder, _ = tiny_builtin
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-3] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(
        ValueError, match="sha256 mismatch for file 'model.safetensors'"
    ):
        from_preset("tiny_test")


def test_tampered_bundled_config_is_refused(tiny_builtin):
    _, folder, _ = tiny_builtin
    config = (folder / "config.json").read_text().replace('"relu"', '"tanh"')
    (folder / "config.json").write_text(config)
    with pytest.raises(ValueError, match="sha256 mismatch for file 'config.json'"):
        from_preset("tiny_test")


def test_name_without_a_bundled_copy_downloads_and_checks_the_pin(
    tiny_builtin, fake_hub, monkeypatch
):
    model, folder, _ = tiny_builtin
    _no_bundled_copy(monkeypatch)
    fake_hub.commit_folder(REPO, folder)
    loaded = from_preset("tiny_test")
    x = m.sample_inputs()
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))
    assert "model.safetensors" in fake_hub.files_requested()
    assert "training_state.safetensors" not in fake_hub.files_requested()


def test_a_changed_hub_preset_is_refused(tiny_builtin, fake_hub, monkeypatch, tmp_path):
    """A new upload under the same name does not match the registered pin."""
    _, _, info = tiny_builtin
    _no_bundled_copy(monkeypatch)
    other = m.make_model(seed=5).save_to_preset(tmp_path / "other")
    fake_hub.commit_folder(REPO, other)
    with pytest.raises(ValueError, match="registry pins") as error:
        from_preset("tiny_test")
    assert info.metadata_sha256 in str(error.value)
    assert integrity.sha256_of(other / "metadata.json") in str(error.value)


def test_revision_downloads_that_revision_still_pinned(
    tiny_builtin, fake_hub, tmp_path
):
    """With `revision`, a built-in name is fetched from the Hub even when a
    bundled copy exists, and the content pin still applies."""
    model, folder, _ = tiny_builtin
    pinned = fake_hub.commit_folder(REPO, folder)
    fake_hub.commit_folder(
        REPO, m.make_model(seed=5).save_to_preset(tmp_path / "newer")
    )
    loaded = from_preset("tiny_test", revision=pinned)
    x = m.sample_inputs()
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))
    resolved = [p for _, p in fake_hub.requests if "/resolve/" in p]
    assert resolved and all(f"/resolve/{pinned}/" in p for p in resolved)
    with pytest.raises(ValueError, match="registry pins"):
        from_preset("tiny_test", revision="main")  # the newer upload


def test_offline_without_a_bundled_copy_or_cache(tiny_builtin, hub_cache, monkeypatch):
    _no_bundled_copy(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="not in the local Hub cache.*HF_HUB_OFFLINE"):
        from_preset("tiny_test")


def test_offline_after_one_download_uses_the_cache(tiny_builtin, fake_hub, monkeypatch):
    model, folder, _ = tiny_builtin
    _no_bundled_copy(monkeypatch)
    fake_hub.commit_folder(REPO, folder)
    from_preset("tiny_test")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.requests.clear()
    loaded = from_preset("tiny_test")
    assert fake_hub.requests == []
    x = m.sample_inputs()
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))


def test_explicit_hub_handle_is_not_pinned(tiny_builtin, fake_hub, tmp_path):
    """`hf://owner/name@rev` keeps working as before: the user chose it."""
    other = m.make_model(seed=5).save_to_preset(tmp_path / "other")
    revision = fake_hub.commit_folder(REPO, other)
    loaded = from_preset(f"hf://{REPO}@{revision}")
    assert isinstance(loaded, m.PresetTestModel)


def test_bundled_roots_find_the_checkout_cards():
    """In a source checkout (and an editable install) weights_cards/ is used."""
    roots = bundled.bundled_roots()
    assert CARDS in roots
    for info in registry.BUILTIN_PRESETS.values():
        assert bundled.bundled_folder(info.folder) is not None
    assert bundled.bundled_folder(None) is None
    assert bundled.bundled_folder("no-such-preset") is None


def test_copied_cards_keep_their_pin(tmp_path, monkeypatch):
    """A bundled copy is byte-for-byte the card folder (what setup.py copies)."""
    info = registry.BUILTIN_PRESETS["mnist_classifier"]
    root = tmp_path / "root"
    shutil.copytree(CARDS / info.folder, root / info.folder)
    monkeypatch.setattr(bundled, "bundled_roots", lambda: [root])
    assert bundled.bundled_folder(info.folder) == root / info.folder
    model = from_preset("mnist_classifier")
    assert type(model).__name__ == "ImageClassifier"
