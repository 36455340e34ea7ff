"""A non-editable wheel install loads a built-in preset offline.

The wheel is built once per run: `scripts/test_all_backends.py` builds it and
passes its path in `KERAS_MAE_TEST_WHEEL`; run alone, this test builds it. It
is installed with `--no-deps` into a fresh virtual environment; the
dependencies (Keras and the backends, which the wheel does not change) are
borrowed from the test environment through PYTHONPATH, which puts no `.pth`
file, so no editable keras_mae, on the path.
"""

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import keras
import pytest

from tests.testing import slow_except_on

ROOT = Path(__file__).resolve().parents[2]

_LOAD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import keras_mae
    from keras_mae.presets import bundled
    here = Path(keras_mae.__file__).resolve()
    assert Path(sys.prefix).resolve() in here.parents, here
    assert bundled.bundled_roots() == [here.parent / "_bundled_presets"]
    names = sorted(keras_mae.list_presets())
    model = keras_mae.from_preset("mnist_classifier")
    print(type(model).__name__, ",".join(names))
    """
)


def build_wheel(directory: Path) -> Path:
    """Builds the keras_mae wheel into `directory`; returns its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(directory),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = directory.glob("keras_mae-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    given = os.environ.get("KERAS_MAE_TEST_WHEEL")
    if given:
        return Path(given)
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@slow_except_on("jax", "packaging: the same wheel for every backend")
def test_wheel_bundles_the_presets_and_loads_one_offline(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
    }
    result = subprocess.run(
        [str(python), "-c", _LOAD],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    class_name, names = result.stdout.split()[-2:]
    assert class_name == "ImageClassifier"
    from keras_mae.presets import registry

    assert names.split(",") == sorted(registry.BUILTIN_PRESETS)
