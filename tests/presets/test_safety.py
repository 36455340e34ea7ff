"""Every refusal of an untrusted preset, each before anything is built.

A format-2 preset's `metadata.json` pins `config.json` and the weights by
sha256, so a tampered file is refused by its hash. The config checks behind
it are tested on configs whose new hash was recorded (`_tamper`), as an
attacker who also rewrites `metadata.json` would do; the safetensors checks
are in `test_safetensors_weights.py`.
"""

import json
import shutil
import sys
from pathlib import Path

import keras
import pytest

from keras_mae.presets import from_preset, integrity, loading
from tests.presets import models_for_tests as m

SENTINEL = "tests.presets.sentinel_module"


@pytest.fixture(scope="module")
def pristine_preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pristine") / "p"
    return m.make_trained_model().save_to_preset(folder)


@pytest.fixture
def preset(pristine_preset, tmp_path):
    """A fresh copy of a trained model's preset, for this test to tamper with."""
    return Path(shutil.copytree(pristine_preset, tmp_path / "p"))


@pytest.fixture
def no_deserialization(monkeypatch):
    """Fails the test if Keras is asked to build anything."""
    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        raise AssertionError("deserialize_keras_object must not be reached")

    monkeypatch.setattr(loading.keras.saving, "deserialize_keras_object", record)
    sys.modules.pop(SENTINEL, None)
    yield calls
    assert calls == []
    assert SENTINEL not in sys.modules


WEIGHTS = "model.safetensors"
TRAINING_STATE = "training_state.safetensors"


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _rehash(preset, name):
    """Records file `name`'s current sha256 and size in `metadata.json`."""

    def edit(metadata):
        metadata["files"][name] = {
            "sha256": integrity.sha256_of(preset / name),
            "size": (preset / name).stat().st_size,
        }

    _edit_json(preset / "metadata.json", edit)


def _tamper(preset, name, edit):
    """Edits JSON file `name` and records its new hash, so the hash check passes."""
    _edit_json(preset / name, edit)
    _rehash(preset, name)


def _first_dense(config):
    return config["config"]["generator"]["config"]["layers"][1]


def _set_activation(value):
    def edit(config):
        _first_dense(config)["config"]["activation"] = value

    return edit


def _replace_layer(value):
    def edit(config):
        config["config"]["generator"]["config"]["layers"][1] = value

    return edit


def _set_top(key, value):
    def edit(config):
        config[key] = value

    return edit


LAMBDA_LAYER = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"name": "l", "function": "print"},
    "registered_name": None,
}
MALICIOUS_CONFIGS = {
    "lambda_layer": (_replace_layer(LAMBDA_LAYER), "layer 'Lambda'"),
    "lambda_bytecode": (
        _set_activation({"class_name": "__lambda__", "config": {"code": "AAAA"}}),
        "'__lambda__'",
    ),
    "tfsm_layer": (
        _replace_layer({**LAMBDA_LAYER, "class_name": "TFSMLayer"}),
        "layer 'TFSMLayer'",
    ),
    "os_system": (
        _set_activation(
            {
                "module": "os",
                "class_name": "system",
                "config": {},
                "registered_name": None,
            }
        ),
        "module 'os'",
    ),
    "unknown_module_import": (
        _set_activation(
            {
                "module": SENTINEL,
                "class_name": "Boom",
                "config": {},
                "registered_name": None,
            }
        ),
        SENTINEL,
    ),
    "other_package": (
        _set_activation(
            {
                "module": SENTINEL,
                "class_name": "Boom",
                "config": {},
                "registered_name": "evil>Boom",
            }
        ),
        "registered under package 'evil'",
    ),
    "unregistered_keras_mae": (
        _set_activation(
            {
                "module": SENTINEL,
                "class_name": "Boom",
                "config": {},
                "registered_name": "keras_mae>Boom",
            }
        ),
        "no such keras_mae class is registered",
    ),
    "forged_module_key": (_set_top("module", SENTINEL), "points outside keras_mae"),
    "unsafe_mode_function": (
        _set_activation(
            {
                "module": "keras.config",
                "class_name": "function",
                "config": "enable_unsafe_deserialization",
                "registered_name": "function",
            }
        ),
        "not a Keras function module",
    ),
    "non_modeling_function": (
        _set_activation(
            {"module": "builtins", "class_name": "function", "config": "deserialize"}
        ),
        "not a modeling function",
    ),
    "unknown_function_package": (
        _set_activation(
            {"module": "builtins", "class_name": "function", "config": "evil>run"}
        ),
        "registered under package 'evil'",
    ),
    "non_saveable_keras_class": (
        _set_activation(
            {
                "module": "keras.utils",
                "class_name": "Progbar",
                "config": {},
                "registered_name": None,
            }
        ),
        "not a Keras layer",
    ),
    "unloaded_keras_module": (
        _set_activation(
            {
                "module": "keras.src.nonexistent",
                "class_name": "X",
                "config": {},
                "registered_name": None,
            }
        ),
        "not a Keras module already loaded",
    ),
    "not_a_keras_mae_model": (
        lambda config: config.update(config["config"]["generator"]),
        "must describe a keras_mae model",
    ),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS_CONFIGS))
def test_malicious_config_is_refused_before_building(case, preset, no_deserialization):
    edit, message = MALICIOUS_CONFIGS[case]
    _tamper(preset, "config.json", edit)
    with pytest.raises(ValueError, match="config.json") as info:
        from_preset(str(preset))
    assert message in str(info.value)
    assert str(preset) in str(info.value)


@pytest.mark.parametrize("case", ["lambda_layer", "os_system"])
def test_malicious_config_is_refused_by_its_hash(case, preset, no_deserialization):
    """Without a re-written metadata.json, tampering never reaches the config."""
    edit, _ = MALICIOUS_CONFIGS[case]
    _edit_json(preset / "config.json", edit)
    with pytest.raises(
        ValueError,
        match="'config.json' (is truncated|is longer than recorded)|"
        "sha256 mismatch for file 'config.json'",
    ) as info:
        from_preset(str(preset), load_weights=False)
    assert str(preset) in str(info.value)


def test_config_change_of_the_same_size_is_caught_by_its_hash(
    preset, no_deserialization
):
    _edit_json(preset / "config.json", lambda config: None)  # re-serialized
    _rehash(preset, "config.json")
    recorded = json.loads((preset / "metadata.json").read_text())["files"]
    # "relu" -> "tanh": same length, so only the hash tells.
    _edit_json(preset / "config.json", _set_activation("tanh"))
    assert (preset / "config.json").stat().st_size == recorded["config.json"]["size"]
    with pytest.raises(
        ValueError, match="sha256 mismatch for file 'config.json'"
    ) as info:
        from_preset(str(preset), load_weights=False)
    message = str(info.value)
    assert recorded["config.json"]["sha256"] in message
    assert integrity.sha256_of(preset / "config.json") in message


def test_config_must_be_listed_in_a_format_2_preset(preset, no_deserialization):
    _edit_json(preset / "metadata.json", lambda md: md["files"].pop("config.json"))
    with pytest.raises(ValueError, match=r"does not list \['config.json'\]"):
        from_preset(str(preset), load_weights=False)


def test_unedited_config_passes_the_same_checks(preset):
    assert type(from_preset(str(preset))) is m.PresetTestModel


def test_save_refuses_a_model_a_preset_could_not_load(tmp_path):
    generator = keras.Sequential(
        [keras.Input((3,)), keras.layers.Lambda(lambda x: x[:, :2])]
    )
    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model = m.PresetTestModel(generator, discriminator)
    model.build((None, 3))
    with pytest.raises(ValueError, match="layer 'Lambda'"):
        model.save_to_preset(tmp_path / "p")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "name",
    [
        "../model.safetensors",
        "sub/model.safetensors",
        "/abs.safetensors",
        "..\\x.safetensors",
        "C:model.safetensors",
        "..",
        "",
    ],
)
def test_path_traversal_in_metadata_is_refused(preset, name, no_deserialization):
    def edit(metadata):
        metadata["files"][name] = metadata["files"][WEIGHTS]

    _edit_json(preset / "metadata.json", edit)
    with pytest.raises(ValueError, match="plain names") as info:
        from_preset(str(preset))
    assert repr(name) in str(info.value)


# Other formats, and format 1's names in a format-2 preset.
@pytest.mark.parametrize(
    "name", ["model.pkl", "model.keras", "model.weights.h5", "README.md"]
)
def test_unlisted_kinds_of_files_are_refused(preset, name, no_deserialization):
    def edit(metadata):
        metadata["files"][name] = metadata["files"][WEIGHTS]

    _edit_json(preset / "metadata.json", edit)
    with pytest.raises(ValueError, match=f"format 2\\) lists '{name}'"):
        from_preset(str(preset))


@pytest.mark.parametrize("name", [WEIGHTS, "config.json", "metadata.json"])
def test_link_leaving_the_folder_is_refused(preset, tmp_path, name, no_deserialization):
    outside = tmp_path / f"elsewhere-{name}"
    shutil.move(preset / name, outside)
    (preset / name).symlink_to(outside)
    with pytest.raises(ValueError, match="link leading outside") as info:
        from_preset(str(preset))
    assert f"'{name}'" in str(info.value)


def test_link_inside_the_folder_is_accepted(preset):
    shutil.move(preset / WEIGHTS, preset / "real.bin")
    (preset / WEIGHTS).symlink_to("real.bin")
    assert type(from_preset(str(preset))) is m.PresetTestModel


def _flip_byte(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("offset", [0, 20, -100, -1])
def test_sha256_mismatch_names_the_file_and_both_hashes(
    preset, offset, no_deserialization
):
    recorded = json.loads((preset / "metadata.json").read_text())["files"][WEIGHTS]
    _flip_byte(preset / WEIGHTS, offset)  # the header, the data
    with pytest.raises(
        ValueError, match="sha256 mismatch for file 'model.safetensors'"
    ) as info:
        from_preset(str(preset))
    message = str(info.value)
    assert f"expected {recorded['sha256']}" in message
    assert f"computed {integrity.sha256_of(preset / WEIGHTS)}" in message
    assert str(preset) in message


@pytest.mark.parametrize("name", [WEIGHTS, "config.json"])
def test_truncated_file_names_the_file(preset, name, no_deserialization):
    path = preset / name
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"'{name}' is truncated") as info:
        from_preset(str(preset))
    assert f"expected {size} bytes, found 100" in str(info.value)


def test_longer_file_names_the_file(preset, no_deserialization):
    with open(preset / WEIGHTS, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="'model.safetensors' is longer than"):
        from_preset(str(preset))


def test_training_state_is_checked_only_when_loaded(preset):
    _flip_byte(preset / TRAINING_STATE)
    assert type(from_preset(str(preset))) is m.PresetTestModel
    with pytest.raises(
        ValueError, match=f"sha256 mismatch for file '{TRAINING_STATE}'"
    ):
        from_preset(str(preset), load_training_state=True)


def test_corrupt_file_with_matching_checksum_names_the_file(preset):
    path = preset / WEIGHTS
    path.write_bytes(b"not a safetensors file" * 100)
    _rehash(preset, WEIGHTS)
    with pytest.raises(ValueError, match="'model.safetensors' declares a") as info:
        from_preset(str(preset))
    assert str(preset) in str(info.value)


def test_newer_format_version_is_a_clear_error(preset, no_deserialization):
    newer = integrity.FORMAT_VERSION + 1
    _edit_json(preset / "metadata.json", lambda md: md.update(format_version=newer))
    with pytest.raises(
        ValueError, match=f"format version {newer}.*Upgrade keras_mae"
    ) as info:
        from_preset(str(preset))
    assert f"reads format version {integrity.FORMAT_VERSION} at most" in str(info.value)


@pytest.mark.parametrize("version", [None, "1", 0, True])
def test_malformed_format_version(preset, version, no_deserialization):
    _edit_json(preset / "metadata.json", lambda md: md.update(format_version=version))
    with pytest.raises(ValueError, match="format_version"):
        from_preset(str(preset))


@pytest.mark.parametrize(
    "record", [{"sha256": "ab", "size": 1}, {"size": 1}, "0" * 64, None]
)
def test_malformed_file_record(preset, record, no_deserialization):
    _edit_json(
        preset / "metadata.json", lambda md: md["files"].update({WEIGHTS: record})
    )
    with pytest.raises(ValueError, match="entry for 'model.safetensors' needs"):
        from_preset(str(preset))


def test_invalid_json_names_the_file(preset, no_deserialization):
    (preset / "config.json").write_text("{not json")
    _rehash(preset, "config.json")
    with pytest.raises(ValueError, match="'config.json' is not valid JSON"):
        from_preset(str(preset))


def test_invalid_metadata_json_names_the_file(preset, no_deserialization):
    (preset / "metadata.json").write_text("{not json")
    with pytest.raises(ValueError, match="'metadata.json' is not valid JSON"):
        from_preset(str(preset))
    (preset / "metadata.json").write_text("[1]")
    with pytest.raises(ValueError, match="'metadata.json' must hold a JSON object"):
        from_preset(str(preset))


@pytest.mark.parametrize("name", [WEIGHTS, "config.json", "metadata.json"])
def test_missing_file_names_it(preset, name, no_deserialization):
    (preset / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"has no file '{name}'"):
        from_preset(str(preset))


def test_unlisted_weights_file_is_refused(preset, no_deserialization):
    _edit_json(preset / "metadata.json", lambda md: md["files"].pop(WEIGHTS))
    with pytest.raises(ValueError, match=r"does not list \['model.safetensors'\]"):
        from_preset(str(preset))


def test_missing_weights_file_is_not_needed_without_weights(preset):
    (preset / WEIGHTS).unlink()
    model = from_preset(str(preset), load_weights=False)
    assert m.outputs(model, m.sample_inputs()).shape == (5, 2)


def test_backend_specific_keras_modules_load_on_any_backend(preset):
    torch_adam = "keras.src.backend.torch.optimizers.torch_adam"
    _tamper(
        preset,
        "config.json",
        lambda config: config["compile_config"]["optimizer"].update(module=torch_adam),
    )
    model = from_preset(str(preset), load_training_state=True)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert int(model.optimizer.iterations.numpy()) == 2


def test_unknown_backend_module_is_still_refused(preset, no_deserialization):
    _tamper(
        preset,
        "config.json",
        _set_activation(
            {"module": "keras.src.backend.jax.evil", "class_name": "Boom", "config": {}}
        ),
    )
    with pytest.raises(
        ValueError, match="'Boom' from module 'keras.src.backend.jax.evil'"
    ):
        from_preset(str(preset))
