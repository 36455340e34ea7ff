"""The `keras-mae` command, called in-process through `main(argv)`."""

import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_mae import from_preset
from keras_mae.cli.data import load_data
from keras_mae.cli.main import main
from keras_mae.layers import RandomAffine
from keras_mae.models import MixtureAutoencoder
from keras_mae.presets import preset_metadata

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _tensors(path) -> dict:
    """A safetensors file's arrays, by weights path."""
    return load_file(str(path))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def train_argv(model: str, output: str, limit: int, *extra: str) -> list[str]:
    """`keras-mae train` on the first `limit` digits, one quiet epoch."""
    return [
        "train",
        model,
        "--data",
        "digits",
        "--limit",
        str(limit),
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--verbose",
        "0",
        "--output",
        output,
        *extra,
    ]


@pytest.fixture(scope="module")
def trained_preset(tmp_path_factory):
    """A small MixtureAutoencoder trained by `keras-mae train` on digits."""
    directory = str(tmp_path_factory.mktemp("cli") / "mae_digits")
    argv = train_argv(
        "mae", directory, 256, "--num-components", "3", "--latent-dim", "2"
    )
    assert main(argv) == 0
    return directory


def test_train_writes_a_preset_with_its_scores(trained_preset):
    for name in ("config.json", "metadata.json", "model.safetensors", "README.md"):
        assert os.path.isfile(os.path.join(trained_preset, name)), name
    with open(os.path.join(trained_preset, "metadata.json")) as file:
        metadata = json.load(file)
    assert metadata["format_version"] == 2
    assert sorted(metadata["files"]) == [
        "config.json",
        "model.safetensors",
        "training_state.safetensors",
    ]
    assert metadata["weights_dtype"] is None
    assert set(metadata["metrics"]) == {"acc", "nmi", "ari"}
    assert 0.0 <= metadata["metrics"]["acc"] <= 1.0
    model = MixtureAutoencoder.from_preset(trained_preset)
    assert model.num_components == 3 and model.latent_dim == 2


def test_train_sets_the_neighbor_weight_widths_and_shear(tmp_path, capsys):
    directory = str(tmp_path / "neighbors")
    argv = train_argv("mae", directory, 128, "--num-components", "2")
    settings = ["--neighbor-weight", "0.5", "--consistency-shear", "0"]
    settings += ["--hidden-units", "12", "6"]
    assert main([*argv, *settings]) == 0
    model = MixtureAutoencoder.from_preset(directory)
    assert (model.neighbor_weight, model.augmentation.shear) == (0.5, 0.0)
    assert model.hidden_units == (12, 6)
    # The rest of the augmentation is the default one.
    assert isinstance(model.augmentation, RandomAffine)
    assert model.augmentation.rotation == RandomAffine().rotation
    for flag in ("--neighbor-weight", "--consistency-shear", "--hidden-units"):
        code, _, err = run(capsys, *train_argv("gan", directory, 64), flag, "1")
        assert code == 2 and f"{flag} applies to `train mae`" in err
    code, _, err = run(capsys, *argv, "--consistency-shear", "1.5")
    assert code == 2 and "--consistency-shear must be in [0, 1); received 1.5" in err


def test_train_restarts_keeps_the_lowest_final_loss(tmp_path, capsys):
    directory = str(tmp_path / "restarts")
    argv = train_argv("mae", directory, 128, "--num-components", "2")
    code, out, _ = run(capsys, *argv, "--restarts", "2", "--seed", "3")
    assert code == 0
    report = json.loads(out)
    losses = {int(seed): loss for seed, loss in report["final_loss_by_seed"].items()}
    assert sorted(losses) == [3, 4]
    assert report["seed"] == min(losses, key=losses.get)
    assert MixtureAutoencoder.from_preset(directory).seed == report["seed"]
    for model, restarts, message in (
        ("gan", "2", "--restarts applies to `train mae`"),
        ("mae", "0", "--restarts must be at least 1"),
    ):
        argv = train_argv(model, directory, 64, "--restarts", restarts)
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err


def test_train_restarts_with_screening(tmp_path, capsys):
    directory = str(tmp_path / "screened")
    argv = train_argv("mae", directory, 128, "--num-components", "2")
    argv[argv.index("--epochs") + 1] = "2"
    code, out, _ = run(capsys, *argv, "--restarts", "2", "--screen-epochs", "1")
    assert code == 0
    report = json.loads(out)
    assert report["screen_epochs"] == 1
    losses = {int(seed): v for seed, v in report["screen_loss_by_seed"].items()}
    assert sorted(losses) == [0, 1]
    assert report["seed"] == min(losses, key=losses.get)
    assert MixtureAutoencoder.from_preset(directory).seed == report["seed"]
    for extra, message in (
        (["--restarts", "1", "--screen-epochs", "1"], "give --restarts 2 or more"),
        (["--restarts", "2", "--screen-epochs", "2"], "`screen_epochs`"),
    ):
        code, _, err = run(capsys, *argv, *extra)
        assert code == 2 and message in err, err


def test_evaluate_prints_scores_and_usage(trained_preset, capsys):
    code, out, _ = run(capsys, "evaluate", trained_preset, "--data", "digits")
    assert code == 0
    report = json.loads(out)
    assert report["preset"] == trained_preset
    assert {"acc", "nmi", "ari"} <= set(report)
    # Every one of the 1797 digits is assigned to one of the 3 components.
    assert len(report["component_usage"]) == 3
    assert sum(report["component_usage"]) == 1797


def test_sample_writes_a_png(trained_preset, tmp_path, capsys):
    path = str(tmp_path / "grid" / "samples.png")
    code, out, _ = run(
        capsys, "sample", trained_preset, "--output", path, "--num-samples", "4"
    )
    assert code == 0 and "Wrote 4 samples" in out
    with open(path, "rb") as file:
        assert file.read(8) == PNG_SIGNATURE


def test_sample_refuses_an_unknown_component(trained_preset, tmp_path, capsys):
    path = str(tmp_path / "samples.png")
    code, _, err = run(
        capsys, "sample", trained_preset, "--output", path, "--component", "7"
    )
    assert code == 2
    assert "component" in err and "[0, 3)" in err
    assert not os.path.exists(path)


def test_missing_preset_is_an_error_naming_it(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    code, _, err = run(capsys, "evaluate", missing, "--data", "digits")
    assert code == 2
    assert "keras-mae evaluate: error:" in err and "nowhere" in err


def test_unknown_data_lists_the_choices(tmp_path, capsys):
    code, _, err = run(
        capsys, "train", "mae", "--data", "cifar", "--output", str(tmp_path / "p")
    )
    assert code == 2
    assert "'cifar'" in err and "digits" in err and ".npz" in err


def test_upload_refuses_a_malformed_handle(trained_preset, capsys):
    code, _, err = run(capsys, "upload", trained_preset, "owner/name")
    assert code == 2
    assert "hf://" in err


def test_presets_and_info(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for name in ("gan_mnist", "mae_digits", "mae_mnist", "mnist_classifier"):
        assert f"{name}: " in out
    assert "bundled (" in out  # a checkout reads weights_cards/ in place
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert f"backend {keras.backend.backend()}" in out
    assert f"keras {keras.__version__}" in out


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_train_and_sample_a_gan(tmp_path, capsys):
    directory = str(tmp_path / "gan_digits")
    code, out, _ = run(capsys, *train_argv("gan", directory, 128, "--latent-dim", "8"))
    assert code == 0
    report = json.loads(out)
    assert report["model"] == "GAN" and report["samples"] == 128
    assert "acc" not in report  # a GAN has no clusters to score
    path = str(tmp_path / "gan.png")
    code, _, err = run(
        capsys, "sample", directory, "--output", path, "--component", "1"
    )
    assert code == 2 and "no components" in err and not os.path.exists(path)
    code, _, _ = run(
        capsys, "sample", directory, "--output", path, "--num-samples", "4"
    )
    assert code == 0
    with open(path, "rb") as file:
        assert file.read(8) == PNG_SIGNATURE


@pytest.fixture(scope="module")
def classifier_preset(tmp_path_factory):
    """An ImageClassifier trained by `keras-mae train classifier` on digits."""
    directory = str(tmp_path_factory.mktemp("cli") / "classifier_digits")
    argv = train_argv(
        "classifier", directory, 1347, "--inference-only", "--weights-dtype", "float16"
    )
    argv[argv.index("--epochs") + 1] = "10"
    assert main(argv) == 0
    return directory


def test_convert_keeps_the_metrics_and_halves_the_weights(
    trained_preset, tmp_path, capsys
):
    output = str(tmp_path / "small")
    argv = ["convert", trained_preset, output, "--weights-dtype", "float16"]
    code, out, _ = run(capsys, *argv, "--inference-only")
    assert code == 0
    assert json.loads(out) == {
        "preset": trained_preset,
        "output": output,
        "format_version": 2,
        "weights_dtype": "float16",
        "training_state": False,
    }
    source, converted = preset_metadata(trained_preset), preset_metadata(output)
    assert converted["format_version"] == 2
    assert converted["metrics"] == source["metrics"]
    assert converted["weights_dtype"] == "float16"
    assert sorted(converted["files"]) == ["config.json", "model.safetensors"]
    sizes = [m["files"]["model.safetensors"]["size"] for m in (source, converted)]
    assert sizes[1] < 0.75 * sizes[0]
    stored = _tensors(os.path.join(output, "model.safetensors"))
    assert (
        stored.keys()
        == _tensors(os.path.join(trained_preset, "model.safetensors")).keys()
    )
    assert {a.dtype for a in stored.values() if a.dtype.kind == "f"} == {
        np.dtype("float16")
    }
    # The source's model card comes along.
    with open(os.path.join(trained_preset, "README.md")) as file:
        card = file.read()
    with open(os.path.join(output, "README.md")) as file:
        assert file.read() == card
    x = load_data("digits")[0][:256]
    original, small = from_preset(trained_preset), from_preset(output)
    agree = np.mean(original.predict_clusters(x) == small.predict_clusters(x))
    assert agree > 0.98
    # Without --inference-only the training state comes along, exactly.
    code, out, _ = run(capsys, "convert", trained_preset, str(tmp_path / "full"))
    assert code == 0 and json.loads(out)["training_state"] is True
    full = preset_metadata(tmp_path / "full")
    assert full["training_state"] == source["training_state"]
    assert full["weights_dtype"] is None
    for name in ("model.safetensors", "training_state.safetensors"):
        before = _tensors(os.path.join(trained_preset, name))
        after = _tensors(tmp_path / "full" / name)
        assert before.keys() == after.keys() and len(before) > 2
        for key, array in before.items():
            assert after[key].dtype == array.dtype, key
            np.testing.assert_array_equal(after[key], array)


def test_convert_keeps_or_changes_the_source_weights_dtype(
    classifier_preset, tmp_path, capsys
):
    kept, widened = str(tmp_path / "kept"), str(tmp_path / "widened")
    code, out, _ = run(capsys, "convert", classifier_preset, kept)
    assert code == 0 and json.loads(out)["weights_dtype"] == "float16"
    argv = ["convert", classifier_preset, widened, "--weights-dtype", "float32"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out)["weights_dtype"] is None
    source = preset_metadata(classifier_preset)
    assert preset_metadata(kept)["weights_dtype"] == "float16"
    assert preset_metadata(kept)["metrics"] == source["metrics"]
    assert preset_metadata(widened)["weights_dtype"] is None
    assert preset_metadata(widened)["metrics"] == source["metrics"]
    half = _tensors(os.path.join(classifier_preset, "model.safetensors"))
    for folder, dtype in ((kept, np.float16), (widened, np.float32)):
        stored = _tensors(os.path.join(folder, "model.safetensors"))
        assert stored.keys() == half.keys()
        for key, array in half.items():
            if array.dtype.kind != "f":  # e.g. a seed state, kept as it is
                assert stored[key].dtype == array.dtype
                np.testing.assert_array_equal(stored[key], array)
                continue
            assert array.dtype == np.float16 and stored[key].dtype == dtype
            # float16 values are exact in float32: nothing is lost either way.
            np.testing.assert_array_equal(stored[key].astype(np.float16), array)
    x = load_data("digits")[0][:64]
    expected = from_preset(classifier_preset).predict(x, verbose=0)
    for folder in (kept, widened):
        np.testing.assert_array_equal(
            from_preset(folder).predict(x, verbose=0), expected
        )


def test_convert_of_a_missing_preset_is_an_error(tmp_path, capsys):
    output = tmp_path / "out"
    code, _, err = run(capsys, "convert", str(tmp_path / "nothing"), str(output))
    assert code == 2 and "keras-mae convert: error:" in err
    assert not output.exists()


def test_train_classifier_reports_held_out_accuracy(classifier_preset, capsys):
    assert not os.path.exists(
        os.path.join(classifier_preset, "training_state.safetensors")
    )
    assert os.path.isfile(os.path.join(classifier_preset, "model.safetensors"))
    with open(os.path.join(classifier_preset, "metadata.json")) as file:
        metadata = json.load(file)
    metrics = metadata["metrics"]
    assert metadata["weights_dtype"] == "float16"
    assert set(metrics) == {"test_accuracy", "train_accuracy"}
    # Scored on the 450 held-out digits; chance is 0.1.
    assert metrics["test_accuracy"] > 0.8
    code, out, _ = run(capsys, "evaluate", classifier_preset, "--data", "digits")
    assert code == 0
    report = json.loads(out)
    assert report["test_samples"] == 450
    assert report["test_accuracy"] == metrics["test_accuracy"]


def test_frechet_scores_samples_against_test_images(
    trained_preset, classifier_preset, capsys
):
    argv = ["frechet", trained_preset, "--extractor", classifier_preset]
    argv += ["--data", "digits", "--num-samples", "200"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    report = json.loads(out)
    assert report["num_samples"] == 200 and report["extractor"] == classifier_preset
    # One epoch on 256 digits samples poorly; real digits score far better.
    assert 0 < report["real_data_frechet_distance"] < report["frechet_distance"]
    code, out, _ = run(capsys, *argv, "--component", "1", "--seed", "3")
    assert code == 0 and json.loads(out)["component"] == 1


def test_frechet_needs_a_generator_and_a_classifier(
    trained_preset, classifier_preset, capsys
):
    code, _, err = run(
        capsys, "frechet", classifier_preset, "--extractor", classifier_preset
    )
    assert code == 2 and "cannot generate samples" in err
    code, _, err = run(capsys, "frechet", trained_preset, "--extractor", trained_preset)
    assert code == 2 and "holds a MixtureAutoencoder" in err
