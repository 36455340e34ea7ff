"""`keras-mae cluster` on a user's files, and `keras-mae demo`."""

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from keras_mae import from_preset
from keras_mae.cli import outputs as outputs_module
from keras_mae.cli import report as report_module
from keras_mae.cli.main import main
from keras_mae.datasets import load_digits, load_samples
from tests.testing import slow_except_on

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
FAST = ["--epochs", "2", "--verbose", "0"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_labels(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def three_blobs(count=90, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 6]], "float32")
    labels = np.arange(count) % 3
    x = centers[labels] + 0.5 * rng.standard_normal((count, 4)).astype("float32")
    return 100.0 * x, labels  # in units far from [0, 1]


@pytest.fixture(scope="module")
def blobs_csv(tmp_path_factory):
    x, labels = three_blobs()
    path = tmp_path_factory.mktemp("csv") / "blobs.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["a", "b", "c", "d", "kind"])
        for row, label in zip(x, labels, strict=True):
            writer.writerow([*map(float, row), f"kind_{label}"])
    return path


def check_report(folder, with_labels, with_history=True):
    expected = {"samples.png", "reconstructions.png", "cluster_sizes.png"}
    if with_history:
        expected.add("loss_curves.png")
    if with_labels:
        expected.add("confusion_matrix.png")
    assert set(os.listdir(folder)) == expected
    for name in expected:
        width, height = png_size(os.path.join(folder, name))
        assert width >= 200 and height >= 150, (name, width, height)


def cluster_argv(data, output):
    """The CSV run that the first test checks and the resume test repeats."""
    return [
        "cluster",
        str(data),
        "--num-components",
        "3",
        "--epochs",
        "2",
        "--label-column",
        "kind",
        "--batch-size",
        "32",
        "--output",
        str(output),
    ]


@pytest.fixture(scope="module")
def csv_run(blobs_csv, tmp_path_factory):
    """`keras-mae cluster` on the CSV, in this process: (code, out, err, dir)."""
    output = tmp_path_factory.mktemp("csv_run") / "out"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(cluster_argv(blobs_csv, output))
    return code, out.getvalue(), err.getvalue(), output


def test_csv_with_header_and_labels(blobs_csv, csv_run, capsys):
    code, out, err, output = csv_run
    assert code == 0, err
    for stage in ("data loaded", "model built, data prepared", "trained", "report"):
        assert f"cluster: {stage}" in out
    assert "Epoch 2/2" in out  # Keras's progress bar
    assert sorted(os.listdir(output)) == [
        "history.json",
        "labels.csv",
        "preset",
        "report",
        "run.json",
        "scores.json",
    ]
    rows = read_labels(output / "labels.csv")
    assert len(rows) == 90
    assert list(rows[0]) == ["sample", "cluster", "probability", "label"]
    assert [r["sample"] for r in rows[:3]] == ["0", "1", "2"]
    assert {r["label"] for r in rows} == {"kind_0", "kind_1", "kind_2"}
    probabilities = np.array([float(r["probability"]) for r in rows])
    assert np.all((probabilities >= 1 / 3 - 1e-4) & (probabilities <= 1))
    check_report(output / "report", with_labels=True)
    scores = json.loads((output / "scores.json").read_text())
    assert {"acc", "nmi", "ari", "samples", "cluster_sizes"} <= set(scores)
    assert sum(scores["cluster_sizes"]) == 90
    history = json.loads((output / "history.json").read_text())
    assert len(history["loss"]) == 2
    run_info = json.loads((output / "run.json").read_text())
    assert run_info["epochs"] == 2 and run_info["backend"] == keras.backend.backend()
    # The preset is the model that wrote labels.csv; it takes raw rows.
    model = from_preset(str(output / "preset"))
    x = load_samples(str(blobs_csv), label_column="kind").x
    clusters = model.predict_clusters(x)
    np.testing.assert_array_equal(clusters, [int(r["cluster"]) for r in rows])

    # A finished run is not silently replaced.
    code, _, err = run(capsys, *cluster_argv(blobs_csv, output))
    assert code == 2 and "already holds a finished run" in err
    assert len(err.strip().splitlines()) == 1


def digits_pngs(folder, count=60, rgb=False, subfolders=False):
    x, y = load_digits()
    for i in range(count):
        pixels = (x[i, ..., 0] * 255).astype("uint8")
        image = Image.fromarray(pixels)
        if rgb:  # a colour image in another size
            image = image.convert("RGB").resize((10 + i % 2, 10))
        where = folder / str(y[i]) if subfolders else folder
        where.mkdir(parents=True, exist_ok=True)
        image.save(where / f"img_{i:03d}.png")
    return y[:count]


@slow_except_on("jax", "reads files; the image model trains on every backend")
def test_image_folder_with_class_subfolders(tmp_path, capsys):
    labels = digits_pngs(tmp_path / "images", subfolders=True)
    output = tmp_path / "out"
    code, _, err = run(
        capsys,
        "cluster",
        tmp_path / "images",
        "--num-components",
        4,
        "--output",
        output,
        *FAST,
    )
    assert code == 0, err
    rows = read_labels(output / "labels.csv")
    assert len(rows) == 60
    assert rows[0]["sample"].startswith("0/img_")  # names: path in the folder
    assert sorted(int(r["label"]) for r in rows) == sorted(labels.tolist())
    check_report(output / "report", with_labels=True)
    assert from_preset(str(output / "preset")).data_shape == (8, 8, 1)


@slow_except_on("torch", "reads images as the other tests; the model is theirs")
def test_rgb_images_of_two_sizes_resized(tmp_path, capsys):
    digits_pngs(tmp_path / "rgb", count=40, rgb=True)
    code, _, err = run(
        capsys,
        "cluster",
        tmp_path / "rgb",
        "--num-components",
        2,
        "--output",
        tmp_path / "refused",
        *FAST,
    )
    assert code == 2 and "different sizes" in err and "--image-size" in err
    assert not (tmp_path / "refused").exists()

    output = tmp_path / "out"
    code, _, err = run(
        capsys,
        "cluster",
        tmp_path / "rgb",
        "--num-components",
        2,
        "--image-size",
        9,
        7,
        "--output",
        output,
        *FAST,
    )
    assert code == 0, err
    assert not (output / "scores.json").exists()
    check_report(output / "report", with_labels=False)
    assert from_preset(str(output / "preset")).data_shape == (9, 7, 3)


@slow_except_on("tensorflow", "the CSV test trains the same vector model")
def test_npy_without_labels(tmp_path, capsys):
    x, _ = three_blobs(60)
    np.save(tmp_path / "table.npy", x)
    output = tmp_path / "out"
    code, _, err = run(
        capsys,
        "cluster",
        tmp_path / "table.npy",
        "--num-components",
        3,
        "--output",
        output,
        *FAST,
    )
    assert code == 0, err
    rows = read_labels(output / "labels.csv")
    assert len(rows) == 60 and list(rows[0]) == ["sample", "cluster", "probability"]
    assert not (output / "scores.json").exists()
    check_report(output / "report", with_labels=False)


def test_demo(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--output", tmp_path / "demo")
    assert code == 0, err
    # The bundled preset's score, as its card states (weights_cards/mae-digits).
    assert "ACC 0.8325, NMI 0.8270, ARI 0.7521 on 1,797 samples" in out
    rows = read_labels(tmp_path / "demo" / "labels.csv")
    assert len(rows) == 1797
    check_report(tmp_path / "demo" / "report", with_labels=True, with_history=False)
    assert json.loads((tmp_path / "demo" / "scores.json").read_text())["acc"] == 0.8325


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.csv", "--num-components", "2"], "No such file"),
        (["TABLE", "--num-components", "1"], "--num-components must be in [2"),
        (["TEXT", "--num-components", "2"], "column 'name' is not numeric"),
        (["TABLE", "--num-components", "2", "--label-column", "x"], "no column"),
        (
            ["TABLE", "--num-components", "2", "--image-size", "4", "4"],
            "image size applies to folders",
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "table.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (tmp_path / "text.csv").write_text("a,name\n1,x\n2,y\n")
    paths = {"TABLE": tmp_path / "table.csv", "TEXT": tmp_path / "text.csv"}
    argv = [str(paths.get(a, a)) for a in argv]
    code, _, err = run(capsys, "cluster", *argv, "--output", tmp_path / "o", *FAST)
    assert code == 2
    assert message in err and err.startswith("keras-mae cluster: error:")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    with pytest.raises((ValueError, FileNotFoundError)):
        main(["--debug", "cluster", *argv, "--output", str(tmp_path / "o")])


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["cluster", "digits", "--num-components", "2", "--epochs", "0"])
    assert raised.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err


def test_failed_report_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def broken(folder, *args, **kwargs):
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "samples.png"), "wb").close()
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_module, "write_report", broken)
    model = from_preset("mae_digits")
    samples = load_samples("digits")
    stages = outputs_module.Stages("demo", quiet=True)
    with pytest.raises(RuntimeError):
        outputs_module.write_results(
            str(tmp_path), model, samples, stages, {}, save_preset=False
        )
    assert os.listdir(tmp_path) == [".partial"]  # nothing under its own name


def run_cli(*argv, kill_after=None):
    command = [sys.executable, "-m"]
    command += (
        ["tests.cli.kill_cli", str(kill_after)]
        if kill_after
        else ["keras_mae.cli.main"]
    )
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if keras.backend.backend() == "jax":
        import jax

        # The session's compilation cache (tests/conftest.py): the steps the
        # in-process run compiled load instead of compiling again.
        env["JAX_COMPILATION_CACHE_DIR"] = str(jax.config.jax_compilation_cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return subprocess.run(
        [*command, *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@slow_except_on(
    "jax", "the command's resuming is backend-free; tests/models resume every backend"
)
def test_killed_run_resumes_to_the_same_result(blobs_csv, csv_run, tmp_path):
    """Killed (SIGKILL) after epoch 1 of 2, resumed in a new process.

    The uninterrupted run is `csv_run`, made in this process.
    """
    straight = csv_run[3]
    resumed = tmp_path / "resumed"
    argv = [*cluster_argv(blobs_csv, resumed), "--verbose", "0"]
    killed = run_cli(*argv, kill_after=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # Nothing of a killed run looks finished.
    assert os.listdir(resumed) == [".partial"]
    finished = run_cli(*argv)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "resuming the interrupted run" in finished.stdout

    # The whole history, though half of it was trained by the killed process.
    resumed_history = json.loads((resumed / "history.json").read_text())
    straight_history = json.loads((straight / "history.json").read_text())
    assert len(resumed_history["loss"]) == 2
    a = load_file(str(resumed / "preset" / "model.safetensors"))
    b = load_file(str(straight / "preset" / "model.safetensors"))
    assert sorted(a) == sorted(b)
    # Bit-equal on JAX and TensorFlow CPU; PyTorch's CPU kernels may differ
    # in the last bits between processes.
    atol = 1e-6 if keras.backend.backend() == "torch" else 0.0
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=atol, err_msg=name)
    np.testing.assert_allclose(
        resumed_history["loss"], straight_history["loss"], rtol=1e-6
    )
    rows_a = read_labels(resumed / "labels.csv")
    rows_b = read_labels(straight / "labels.csv")
    assert [r["cluster"] for r in rows_a] == [r["cluster"] for r in rows_b]
