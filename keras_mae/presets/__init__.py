"""Presets: save, publish and load pretrained keras_mae models safely.

- `from_preset(preset)` builds whatever model a preset holds; every keras_mae
  model also has `Model.from_preset(...)` and `model.save_to_preset(...)`
  through `PresetMixin`.
- `list_presets()` returns the built-in presets as `PresetInfo`s.
- `upload_preset("hf://owner/name", directory)` publishes a preset folder.
- `preset_metadata(preset)` reads a preset's metadata (versions, metrics,
  weights files) without fetching its weights.

See docs/presets.md for the file layout and the safety model.
"""

from keras_mae.presets.loading import from_preset, preset_metadata
from keras_mae.presets.mixin import PresetMixin
from keras_mae.presets.publish import upload_preset
from keras_mae.presets.registry import PresetInfo, list_presets

__all__ = [
    "PresetInfo",
    "PresetMixin",
    "from_preset",
    "list_presets",
    "preset_metadata",
    "upload_preset",
]
