"""Hub presets through huggingface_hub against a local server speaking its protocol."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_mae.presets import (
    from_preset,
    preset_metadata,
    upload_preset,
)
from keras_mae.presets.integrity import sha256_of
from tests.presets import models_for_tests as m
from tests.testing import slow_except_on

REPO = "keras-mae-test/tiny"
ROOT = Path(__file__).resolve().parents[2]
LEGACY_GAN = ROOT / "weights_cards" / "format1-test-fixtures" / "gan"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model = m.make_trained_model()
    return model, model.save_to_preset(tmp_path_factory.mktemp("trained") / "p")


@pytest.fixture
def saved(trained, tmp_path):
    """The trained model and a fresh copy of its preset."""
    model, folder = trained
    return model, Path(shutil.copytree(folder, tmp_path / "p"))


def test_round_trip_through_the_hub(fake_hub, saved):
    model, folder = saved
    fake_hub.commit_folder(REPO, folder)
    loaded = from_preset(f"hf://{REPO}")
    x = m.sample_inputs()
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))
    # The protocol calls huggingface_hub makes, in order of first use.
    paths = [path for _, path in fake_hub.requests]
    assert paths[0] == f"/api/models/{REPO}/revision/main"
    assert any(p.startswith(f"/api/models/{REPO}/tree/") for p in paths)


def test_inference_load_does_not_download_training_state(fake_hub, saved):
    _, folder = saved
    fake_hub.commit_folder(REPO, folder)
    from_preset(f"hf://{REPO}")
    fetched = fake_hub.files_requested()
    assert sorted(fetched) == ["config.json", "metadata.json", "model.safetensors"]
    fake_hub.requests.clear()
    model = m.PresetTestModel.from_preset(f"hf://{REPO}", load_training_state=True)
    assert fake_hub.files_requested() == ["training_state.safetensors"]
    assert int(model.optimizer.iterations.numpy()) == 2


def test_format_1_preset_from_the_hub(fake_hub, tmp_path):
    fake_hub.commit_folder(REPO, LEGACY_GAN)
    outputs = np.load(ROOT / "tests" / "data" / "legacy_outputs.npz")
    model = from_preset(f"hf://{REPO}")
    np.testing.assert_allclose(
        m.outputs(model, outputs["gan_z"]), outputs["gan_out"], rtol=0, atol=1e-6
    )
    assert sorted(fake_hub.files_requested()) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    fake_hub.requests.clear()
    from_preset(f"hf://{REPO}", load_training_state=True)
    assert fake_hub.files_requested() == ["training_state.weights.h5"]


def test_preset_metadata_downloads_only_the_metadata(fake_hub, saved):
    _, folder = saved
    fake_hub.commit_folder(REPO, folder)
    metadata = preset_metadata(f"hf://{REPO}")
    assert metadata == json.loads((folder / "metadata.json").read_text())
    assert fake_hub.files_requested() == ["metadata.json"]


def test_revisions_are_pinned(fake_hub, tmp_path):
    first, second = m.make_model(seed=0), m.make_model(seed=1)
    old = fake_hub.commit_folder(REPO, first.save_to_preset(tmp_path / "a"))
    fake_hub.commit_folder(REPO, second.save_to_preset(tmp_path / "b"))
    fake_hub.commit(REPO, fake_hub.repos[REPO].commits[old], branch="v1")
    x = m.sample_inputs()
    expected_old, expected_new = m.outputs(first, x), m.outputs(second, x)
    for preset, kwargs, expected in [
        (f"hf://{REPO}@{old}", {}, expected_old),
        (f"hf://{REPO}", {"revision": old}, expected_old),
        (f"hf://{REPO}@v1", {}, expected_old),
        (f"hf://{REPO}", {}, expected_new),
    ]:
        model = from_preset(preset, **kwargs)
        np.testing.assert_array_equal(m.outputs(model, x), expected)
    with pytest.raises(ValueError, match="give only one"):
        from_preset(f"hf://{REPO}@v1", revision=old)


def test_unknown_repository(fake_hub):
    with pytest.raises(ValueError, match="hf://nobody/nothing.*does not exist"):
        from_preset("hf://nobody/nothing")


def test_unknown_revision(fake_hub, saved):
    fake_hub.commit_folder(REPO, saved[1])
    with pytest.raises(ValueError, match="revision 'v9' does not exist") as info:
        from_preset(f"hf://{REPO}@v9")
    assert f"hf://{REPO}@v9" in str(info.value)


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_tampered_download_fails_the_checksum(fake_hub, saved, name):
    _, folder = saved
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    expected = sha256_of(folder / name)
    data = bytearray(files[name])
    data[-50] ^= 0xFF  # config.json: a character of its last lines
    files[name] = bytes(data)
    fake_hub.commit(REPO, files)
    with pytest.raises(ValueError, match=f"sha256 mismatch for file '{name}'") as info:
        from_preset(f"hf://{REPO}")
    message = str(info.value)
    assert f"hf://{REPO}" in message and f"expected {expected}" in message


def test_repository_without_a_preset(fake_hub):
    fake_hub.commit(REPO, {"README.md": b"hello"})
    with pytest.raises(
        FileNotFoundError, match=f"hf://{REPO} has no file 'metadata.json'"
    ):
        from_preset(f"hf://{REPO}")


def test_offline_with_a_cached_preset_makes_no_request(fake_hub, saved, monkeypatch):
    model, folder = saved
    sha = fake_hub.commit_folder(REPO, folder)
    from_preset(f"hf://{REPO}@{sha}")
    from_preset(f"hf://{REPO}")
    fake_hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    x = m.sample_inputs()
    for preset in [f"hf://{REPO}@{sha}", f"hf://{REPO}"]:
        np.testing.assert_array_equal(
            m.outputs(from_preset(preset), x), m.outputs(model, x)
        )
    assert fake_hub.requests == []


def test_offline_and_not_cached_says_so(fake_hub, saved, monkeypatch):
    fake_hub.commit_folder(REPO, saved[1])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="not in the local Hub cache") as info:
        from_preset(f"hf://{REPO}")
    message = str(info.value)
    assert f"hf://{REPO}" in message and "HF_HUB_OFFLINE is set" in message
    assert "does not exist" not in message
    assert fake_hub.requests == []


def test_offline_with_only_inference_files_cached(fake_hub, saved, monkeypatch):
    fake_hub.commit_folder(REPO, saved[1])
    from_preset(f"hf://{REPO}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="not in the local Hub cache.*training_state"):
        from_preset(f"hf://{REPO}", load_training_state=True)


def test_unreachable_hub_and_not_cached(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(
        OSError, match="could not be reached.*not in the local Hub cache"
    ):
        from_preset(f"hf://{REPO}")


def test_upload_then_load(fake_hub, saved):
    model, folder = saved
    sha = upload_preset(f"hf://{REPO}", folder)
    assert fake_hub.repos[REPO].refs["main"] == sha
    assert sorted(fake_hub.repos[REPO].commits[sha]) == sorted(os.listdir(folder))
    loaded = from_preset(f"hf://{REPO}@{sha}", load_training_state=True)
    x = m.sample_inputs()
    np.testing.assert_array_equal(m.outputs(loaded, x), m.outputs(model, x))
    # A second upload goes to the existing repository as a new commit.
    assert upload_preset(f"hf://{REPO}", folder) != sha


def test_upload_refuses_a_corrupt_preset(fake_hub, saved):
    _, folder = saved
    path = folder / "training_state.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="'training_state.safetensors' is truncated"):
        upload_preset(f"hf://{REPO}", folder)
    assert fake_hub.requests == []


def test_upload_refuses_an_edited_config(fake_hub, saved):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["config"]["latent_dim"] = 7
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'config.json'"):
        upload_preset(f"hf://{REPO}", folder)
    assert fake_hub.requests == []


def test_upload_refuses_subfolders_and_bad_handles(fake_hub, saved):
    _, folder = saved
    with pytest.raises(ValueError, match="Accepted forms"):
        upload_preset("owner/name", folder)
    (folder / "extra").mkdir()
    with pytest.raises(ValueError, match="'extra' is not a plain file"):
        upload_preset(f"hf://{REPO}", folder)
    assert fake_hub.requests == []


def test_upload_offline_is_refused(fake_hub, saved, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="HF_HUB_OFFLINE is set"):
        upload_preset(f"hf://{REPO}", saved[1])


_SUBPROCESS_LOAD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import huggingface_hub  # imported first: it reads HF_ENDPOINT/HF_HUB_OFFLINE now
    from tests.presets import models_for_tests as m
    from keras_mae.presets import from_preset

    model = from_preset(sys.argv[1])
    np.save(sys.argv[2], m.outputs(model, m.sample_inputs()))
    """
)


@slow_except_on("jax", "a fresh interpreter importing huggingface_hub")
def test_environment_set_before_importing_huggingface_hub(fake_hub, saved, tmp_path):
    """The plain user path: HF_ENDPOINT / HF_HUB_OFFLINE set before any import."""
    model, folder = saved
    fake_hub.commit_folder(REPO, folder)
    env = {
        **os.environ,
        "HF_ENDPOINT": fake_hub.endpoint,
        "HF_HOME": str(tmp_path / "hf-home"),
        "KERAS_BACKEND": keras.backend.backend(),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("HF_HUB_OFFLINE", None)
    expected = m.outputs(model, m.sample_inputs())
    for offline in ["0", "1"]:
        out = tmp_path / f"out{offline}.npy"
        result = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS_LOAD, f"hf://{REPO}", str(out)],
            env={**env, "HF_HUB_OFFLINE": offline},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        np.testing.assert_array_equal(np.load(out), expected)
        if offline == "0":
            assert fake_hub.files_requested()
            fake_hub.requests.clear()
    assert fake_hub.requests == []
    cached = json.loads(next((tmp_path / "hf-home").rglob("metadata.json")).read_text())
    assert cached["registered_name"] == "keras_mae>PresetTestModel"
