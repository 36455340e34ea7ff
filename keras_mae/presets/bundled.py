"""Where the copies of the built-in presets that ship with keras_mae are.

A wheel carries the folders of `weights_cards/` as package data under
`keras_mae/_bundled_presets/` (copied there by `setup.py` when the wheel is
built). A source checkout, or an editable install of one, reads
`weights_cards/` in place. A bundled copy is verified against the registry's
content pin before it is used, exactly like a download.

Example:
    >>> from keras_mae.presets import bundled
    >>> all(root.is_dir() for root in bundled.bundled_roots())
    True
"""

from __future__ import annotations

from pathlib import Path

from keras_mae.presets.integrity import METADATA_FILE

PACKAGE_FOLDER = "_bundled_presets"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def bundled_roots() -> list[Path]:
    """The folders searched for bundled presets, in order, that exist.

    Returns:
        `keras_mae/_bundled_presets` of an installed wheel, then the
        `weights_cards/` of the source checkout keras_mae is imported from.

    Examples:
    >>> from keras_mae.presets.bundled import bundled_roots
    >>> any((root / "mae-digits").is_dir() for root in bundled_roots())
    True
    """
    roots = [_PACKAGE_ROOT / PACKAGE_FOLDER]
    checkout = _PACKAGE_ROOT.parent
    if (checkout / "pyproject.toml").is_file():
        roots.append(checkout / "weights_cards")
    return [root for root in roots if root.is_dir()]


def bundled_folder(folder: str | None) -> Path | None:
    """The bundled copy of a preset folder, or None if none is installed.

    Args:
        folder: The preset's folder name (`PresetInfo.folder`), or None.

    Returns:
        The first `root / folder` holding a `metadata.json`, else None.

    Examples:
    >>> from keras_mae.presets import list_presets
    >>> from keras_mae.presets.bundled import bundled_folder
    >>> folder = bundled_folder(list_presets()["mae_digits"].folder)
    >>> folder.name, (folder / "metadata.json").is_file()
    ('mae-digits', True)
    >>> bundled_folder("not-a-preset") is None
    True
    """
    if folder is None:
        return None
    for root in bundled_roots():
        candidate = root / folder
        if (candidate / METADATA_FILE).is_file():
            return candidate
    return None
