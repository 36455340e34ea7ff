import dataclasses

import pytest

import keras_mae.presets
from keras_mae.presets import PresetInfo, list_presets, registry
from tests.presets.models_for_tests import PresetTestModel

SHA = "0123456789abcdef0123456789abcdef01234567"


def _info(**kwargs):
    values = dict(
        name="demo",
        handle="hf://owner/demo",
        revision=SHA,
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
    assert info.hub_handle == f"hf://owner/demo@{SHA}"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.revision = "main"
    with pytest.raises(TypeError):
        info.metadata["params"] = 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"revision": "main"}, "40-character commit hash"),
        ({"handle": f"hf://owner/demo@{SHA}"}, "put the revision in `revision`"),
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
