import dataclasses

import pytest

import keras_mae.presets
from keras_mae.presets import PresetInfo, list_presets, registry
from tests.presets.models_for_tests import PresetTestModel

SHA = "0123456789abcdef" * 4


def _info(**kwargs):
    values = dict(
        name="demo",
        handle="hf://owner/demo",
        metadata_sha256=SHA,
        model_class="keras_mae>PresetTestModel",
        description="A demo.",
        metadata={"params": 67},
    )
    values.update(kwargs)
    return PresetInfo(**values)


def test_public_exports():
    for name in ["from_preset", "list_presets", "upload_preset", "PresetMixin"]:
        assert hasattr(keras_mae.presets, name)


def test_preset_info_is_frozen_data():
    info = _info()
    assert info.hub_handle == "hf://owner/demo"
    assert _info(revision="v1").hub_handle == "hf://owner/demo@v1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.revision = "main"
    with pytest.raises(TypeError):
        info.metadata["params"] = 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metadata_sha256": "abc"}, "64 lower-case hex digits"),
        ({"metadata_sha256": SHA.upper()}, "64 lower-case hex digits"),
        ({"handle": "hf://owner/demo@v1"}, "put the revision in `revision`"),
        ({"revision": "bad revision"}, "Invalid revision"),
        ({"folder": "../up"}, "plain folder name"),
        ({"handle": "owner/demo"}, "hf://"),
        ({"model_class": "GAN"}, "keras_mae>GAN"),
    ],
)
def test_preset_info_rejects_unpinned_or_malformed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _info(**kwargs)


def test_builtin_registry_entries_are_valid():
    for name, info in registry.BUILTIN_PRESETS.items():
        assert isinstance(info, PresetInfo) and info.name == name


def test_list_presets_returns_a_filtered_copy(monkeypatch):
    other = _info(name="other", model_class="keras_mae>GAN")
    monkeypatch.setattr(registry, "BUILTIN_PRESETS", {"demo": _info(), "other": other})
    listed = list_presets()
    assert list(listed) == ["demo", "other"]
    listed.clear()
    assert len(list_presets()) == 2
    assert list(list_presets("keras_mae>GAN")) == ["other"]
    assert list(list_presets(PresetTestModel)) == ["demo"]
