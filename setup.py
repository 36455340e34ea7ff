"""Bundles the built-in presets (`weights_cards/`) into the wheel.

Everything else about the package is in pyproject.toml. When a wheel (or an
sdist's wheel) is built, `build_py` copies each preset folder of
`weights_cards/` into `keras_mae/_bundled_presets/`, so that
`keras_mae.from_preset("mae_mnist")` works offline after `pip install`. The
copies are verified against the registry's content pins when loaded. An
editable install reads `weights_cards/` of the checkout instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CARDS = ROOT / "weights_cards"
# What a bundled copy needs: the model card, its config, metadata and the
# inference weights (a training state is for the Hub copy only).
BUNDLED_FILES = ("README.md", "config.json", "metadata.json", "model.safetensors")


class BuildWithPresets(build_py):
    """`build_py` that also copies the preset folders into the package."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "keras_mae" / "_bundled_presets"
        if target.exists():
            shutil.rmtree(target)
        for folder in sorted(p for p in CARDS.iterdir() if p.is_dir()):
            if not (folder / "metadata.json").is_file():
                continue
            (target / folder.name).mkdir(parents=True)
            for name in BUNDLED_FILES:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, target / folder.name / name)


setup(cmdclass={"build_py": BuildWithPresets})
