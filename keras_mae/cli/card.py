"""`keras-mae card`: re-measures a preset and rewrites the numbers of its card.

Every number a model card states comes from `measure`: clustering scores of a
MixtureAutoencoder, the accuracy of a classifier, and for generators the
Fréchet distance (FD), kernel inception distance (KID) and precision/recall
of samples against held-out images in the features of the built-in
`mnist_classifier`, each next to what real images score (the floor). The
card's `README.md` gets a table between two markers and a YAML
`model-index` (Hugging Face's format, written with `huggingface_hub`);
`metadata.json` is never touched, so the preset's content pin stays valid.

Example:
    >>> from keras_mae.cli.card import results_table
    >>> print(results_table([{"name": "acc", "value": 0.5, "dataset": "digits",
    ...     "split": "all 1,797", "description": "clustering accuracy"}]))
    | metric | value | data | what |
    | --- | --- | --- | --- |
    | acc | 0.5 | digits, all 1,797 | clustering accuracy |
"""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path

import numpy as np

BEGIN = "<!-- keras-mae card: begin (written by `keras-mae card`; do not edit) -->"
END = "<!-- keras-mae card: end -->"
# The slice every backend re-measures in tests/presets/test_builtin_cards.py.
CHECK_SLICE = 2000


def _result(name, value, dataset, split, description) -> dict:
    return {
        "name": name,
        "value": round(float(value), 4),
        "dataset": dataset,
        "split": split,
        "description": description,
    }


def _clustering(model, x, y, dataset: str, split: str) -> list[dict]:
    from keras_mae.metrics import clustering_scores

    scores = clustering_scores(y, model.predict_clusters(x))
    names = {"acc": "accuracy", "nmi": "NMI", "ari": "ARI"}
    return [
        _result(key, scores[key], dataset, split, f"clustering {names[key]}")
        for key in ("acc", "nmi", "ari")
    ]


def generative_scores(
    samples: np.ndarray, real: np.ndarray, reference: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """FD, KID, precision and recall of samples and of real images.

    Args:
        samples: Generated images.
        real: Real images not in `reference` (the floor: what data scores).
        reference: Held-out real images to compare with.
        seed: Seed of KID's subsets.

    Returns:
        `fd`, `kid`, `precision`, `recall` of `samples`, and the same with a
        `real_` prefix for `real`, all against `reference`.

    Example:

    >>> import numpy as np
    >>> from keras_mae.cli.card import generative_scores
    >>> rng = np.random.default_rng(0)
    >>> noise, real, reference = rng.uniform(size=(3, 40, 28, 28, 1)).astype("float32")
    >>> sorted(generative_scores(noise, real, reference))
    ['fd', 'kid', 'precision', 'real_fd', 'real_kid', 'real_precision',
     'real_recall', 'recall']
    """
    from keras_mae.metrics import (
        FrechetDistance,
        frechet_distance,
        improved_precision_recall,
        kernel_inception_distance,
    )

    extractor = FrechetDistance()  # the built-in mnist_classifier's features
    reference_features = extractor.features(reference)
    statistics = (reference_features.mean(0), np.cov(reference_features, rowvar=False))
    scores = {}
    for prefix, images in (("", samples), ("real_", real)):
        features = extractor.features(images)
        mu, sigma = features.mean(0), np.cov(features, rowvar=False)
        kid, _ = kernel_inception_distance(features, reference_features, seed=seed)
        precision, recall = improved_precision_recall(reference_features, features)
        scores.update(
            {
                f"{prefix}fd": frechet_distance(mu, sigma, *statistics),
                f"{prefix}kid": kid,
                f"{prefix}precision": precision,
                f"{prefix}recall": recall,
            }
        )
    return scores


def check_latents(model, n: int = CHECK_SLICE) -> np.ndarray:
    """Codes from NumPy (seed 0), the same on every backend, for a GAN.

    Args:
        model: A GAN (its `latent_dim` sets the width).
        n: How many codes.

    Returns:
        float32 `(n, latent_dim)` draws of N(0, I).

    Example:

    >>> import keras_mae
    >>> from keras_mae.cli.card import check_latents
    >>> check_latents(keras_mae.from_preset("gan_mnist"), n=4).shape
    (4, 64)
    """
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, model.latent_dim)).astype("float32")


def _generative(model, data: str, num_samples: int, seed: int) -> list[dict]:
    from keras_mae.cli.data import load_split

    (x_train, _), (x_test, _) = load_split(data)
    num = min(num_samples, len(x_test), len(x_train))
    if hasattr(model, "sample"):  # a MixtureAutoencoder: components uniform
        samples = model.sample(num, seed=seed)
    else:
        samples = model.generate(num, seed=seed)
    scores = generative_scores(np.asarray(samples), x_train[:num], x_test[:num], seed)
    split = f"{num:,} samples vs test[:{num}]"
    results = []
    for key, what in (
        ("fd", "Fréchet distance"),
        ("kid", "kernel inception distance"),
        ("precision", "precision (k=3)"),
        ("recall", "recall (k=3)"),
    ):
        results.append(_result(key, scores[key], data, split, what))
        results.append(
            _result(
                f"real_{key}",
                scores[f"real_{key}"],
                data,
                f"train[:{num}] vs test[:{num}]",
                f"{what} of real images (the floor)",
            )
        )
    if not hasattr(model, "sample"):
        # Samples from codes NumPy draws, so every backend can re-measure it.
        n = min(CHECK_SLICE, num)
        fixed = np.asarray(model.predict(check_latents(model, n), verbose=0))
        fd = generative_scores(fixed, x_train[:n], x_test[:n], seed)["fd"]
        results.append(
            _result(
                "fd",
                fd,
                data,
                f"{n:,} samples of NumPy codes (seed 0) vs test[:{n}]",
                "Fréchet distance",
            )
        )
    return results


def measure(model, data: str, num_samples: int = 10_000, seed: int = 0) -> list[dict]:
    """Measures what the card of `model` reports.

    Args:
        model: A loaded preset: a MixtureAutoencoder, a GAN or an
            ImageClassifier.
        data: `"mnist"`, `"digits"` or an `.npz` path (`keras_mae.cli.data`).
        num_samples: Generated samples for FD, KID and precision/recall.
        seed: Seed of the samples.

    Returns:
        A list of results, each a dict with `name`, `value`, `dataset`,
        `split` and `description`.

    Raises:
        ValueError: For a model of another kind.

    Example:

    >>> import keras_mae
    >>> from keras_mae.cli.card import measure
    >>> [(r["name"], r["value"]) for r in measure(
    ...     keras_mae.from_preset("mae_digits"), "digits")]
    [('acc', 0.8325), ('nmi', 0.827), ('ari', 0.7521)]
    """
    from keras_mae.cli.data import load_data, load_split

    results = []
    if hasattr(model, "predict_classes"):
        _, (x_test, y_test) = load_split(data)
        for n in (len(x_test), min(CHECK_SLICE, len(x_test))):
            accuracy = np.mean(model.predict_classes(x_test[:n]) == y_test[:n])
            results.append(
                _result("accuracy", accuracy, data, f"test[:{n}]", "test accuracy")
            )
        return results
    if hasattr(model, "predict_clusters"):
        x, y = load_data(data)
        results += _clustering(model, x, y, data, f"all {len(x):,}")
        if data != "digits":
            _, (x_test, y_test) = load_split(data)
            n = min(CHECK_SLICE, len(x_test))
            results += _clustering(model, x_test[:n], y_test[:n], data, f"test[:{n}]")
    elif not hasattr(model, "generate"):
        raise ValueError(
            f"keras-mae card measures MixtureAutoencoders, GANs and "
            f"ImageClassifiers; received a {type(model).__name__}."
        )
    if data == "mnist":
        results += _generative(model, data, num_samples, seed)
    return results


def results_table(results: list[dict]) -> str:
    """The Markdown table of `results`.

    Args:
        results: As `measure` returns them.

    Returns:
        A Markdown table, one row per result.

    Example:

    >>> from keras_mae.cli.card import results_table
    >>> print(results_table([{"name": "acc", "value": 0.9, "dataset": "digits",
    ...     "split": "all", "description": "clustering accuracy"}]))
    | metric | value | data | what |
    | --- | --- | --- | --- |
    | acc | 0.9 | digits, all | clustering accuracy |
    """
    lines = ["| metric | value | data | what |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {r['name']} | {r['value']} | {r['dataset']}, {r['split']} | "
        f"{r['description']} |"
        for r in results
    ]
    return "\n".join(lines)


def machine() -> str:
    """One line saying where the numbers were measured.

    Example:

    >>> from keras_mae.cli.card import machine
    >>> machine()  # doctest: +ELLIPSIS
    '... CPU, ... cores, Python ..., Keras ... (...)'
    """
    import keras

    return (
        f"{platform.machine()} CPU, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Keras {keras.__version__} "
        f"({keras.backend.backend()})"
    )


def write_card(
    readme: Path,
    model_name: str,
    results: list[dict],
    command: str,
    when: str,
    facts: list[str] = (),
) -> None:
    """Rewrites the measured block and the `model-index` of a model card.

    The text between `BEGIN` and `END` is replaced (appended if absent); the
    rest of the card is kept. Written to a temporary file and moved into
    place, so a failure leaves the old card.

    Args:
        readme: The card, `README.md` of the preset folder.
        model_name: The model's name in the `model-index`.
        results: As `measure` returns them.
        command: The command that measured them.
        when: The date of the measurement.
        facts: Extra lines for the block (parameter count, file size, ...).

    Example:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from keras_mae.cli.card import read_results, write_card
    >>> readme = Path(tempfile.mkdtemp()) / "README.md"
    >>> write_card(readme, "my-model", [{"name": "acc", "value": 0.9,
    ...     "dataset": "digits", "split": "all", "description": "accuracy"}],
    ...     command="keras-mae card ...", when="2026-12-02")
    >>> read_results(readme)
    [{'name': 'acc', 'value': 0.9, 'dataset': 'digits', 'split': 'all'}]
    """
    from huggingface_hub import EvalResult, ModelCard

    card = ModelCard(readme.read_text("utf-8") if readme.exists() else "")
    block = "\n".join(
        [
            BEGIN,
            f"Measured {when} on {machine()} with:",
            "",
            "```bash",
            command,
            "```",
            "",
            results_table(results),
            *(["", *(f"- {fact}" for fact in facts)] if facts else []),
            END,
        ]
    )
    text = card.text
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Measured results\n\n" + block + "\n"
    card.text = text
    card.data.model_name = model_name
    card.data.eval_results = [
        EvalResult(
            task_type="unconditional-image-generation"
            if r["name"].split("_")[-1] in ("fd", "kid", "precision", "recall")
            else "image-classification",
            dataset_type=r["dataset"],
            dataset_name=r["dataset"],
            dataset_split=r["split"],
            metric_type=r["name"],
            metric_name=r["description"],
            metric_value=r["value"],
        )
        for r in results
    ]
    handle, temporary = tempfile.mkstemp(
        dir=readme.parent, prefix=f".{readme.name}.", suffix=".tmp"
    )
    os.close(handle)
    try:
        card.save(temporary)
        os.replace(temporary, readme)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def read_results(readme: Path) -> list[dict]:
    """The results a card's `model-index` holds (what `write_card` wrote).

    Args:
        readme: The card.

    Returns:
        A list of dicts with `name`, `value`, `dataset` and `split`.

    Example: see `write_card`.

    >>> from keras_mae.cli.card import read_results
    """
    from huggingface_hub import ModelCard

    card = ModelCard.load(readme)
    return [
        {
            "name": r.metric_type,
            "value": r.metric_value,
            "dataset": r.dataset_name,
            "split": r.dataset_split,
        }
        for r in card.data.eval_results or []
    ]
