"""`keras-mae train`: trains a MixtureAutoencoder, a GAN or a classifier.

`run_train(args)` takes the parsed arguments of `keras-mae train` and saves
the model as a preset with its scores; `cluster_report` and
`classifier_report` are the scores `train` and `evaluate` print.
"""

from __future__ import annotations

import json
import time

from keras_mae.cli.data import load_data, load_split


def run_train(args) -> int:
    """`keras-mae train MODEL --output DIR`: trains and saves a preset.

    Example:

    >>> import contextlib, io, json, os, tempfile
    >>> from keras_mae.cli.main import build_parser
    >>> from keras_mae.cli.train_commands import run_train
    >>> output = os.path.join(tempfile.mkdtemp(), "mae")
    >>> args = build_parser().parse_args(["train", "mae", "--data", "digits",
    ...     "--limit", "64", "--epochs", "1", "--batch-size", "32",
    ...     "--num-components", "2", "--latent-dim", "2", "--verbose", "0",
    ...     "--output", output])
    >>> printed = io.StringIO()
    >>> with contextlib.redirect_stdout(printed):
    ...     code = run_train(args)
    >>> code, json.loads(printed.getvalue())["samples"]
    (0, 64)
    """
    import keras

    from keras_mae import models
    from keras_mae.layers import RandomAffine
    from keras_mae.training import best_of_restarts

    for flag, value, unset in (
        ("--neighbor-weight", args.neighbor_weight, None),
        ("--hidden-units", args.hidden_units, None),
        ("--consistency-shear", args.consistency_shear, None),
        ("--restarts", args.restarts, 1),
        ("--screen-epochs", args.screen_epochs, None),
    ):
        if args.model != "mae" and value != unset:
            raise ValueError(
                f"{flag} applies to `train mae`; received `train {args.model}`."
            )
    if args.restarts < 1:
        raise ValueError(f"--restarts must be at least 1; received {args.restarts}.")
    if args.screen_epochs is not None and args.restarts == 1:
        raise ValueError(
            "--screen-epochs compares restarts: give --restarts 2 or more; "
            "received --restarts 1."
        )
    shear = args.consistency_shear
    if shear is not None and not 0.0 <= shear < 1.0:
        raise ValueError(f"--consistency-shear must be in [0, 1); received {shear}.")
    if args.model == "classifier":
        return _train_classifier(args)
    x, y = load_data(args.data)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    if shear is not None and x.ndim != 4:
        raise ValueError(
            "--consistency-shear sets the shear of the image augmentation; "
            f"{args.data} holds samples of shape {x.shape[1:]}, not images."
        )

    def build(seed):
        if args.model == "gan":
            model = models.GAN(
                latent_dim=args.latent_dim, data_shape=x.shape[1:], seed=seed
            )
            model.compile()
            return model
        settings = {}
        if args.neighbor_weight is not None:
            settings["neighbor_weight"] = args.neighbor_weight
        if args.hidden_units is not None:
            settings["hidden_units"] = args.hidden_units
        if shear is not None:
            # The default augmentation (`"auto"`), with another shear.
            settings["augmentation"] = RandomAffine(
                shear=shear, seed=seed, name="augmentation"
            )
        model = models.MixtureAutoencoder(
            num_components=args.num_components,
            latent_dim=args.latent_dim,
            input_shape=x.shape[1:],
            seed=seed,
            **settings,
        )
        model.compile()
        return model

    fit = {"batch_size": args.batch_size, "epochs": args.epochs}
    start = time.perf_counter()
    if args.restarts == 1:
        keras.utils.set_random_seed(args.seed)
        model = build(args.seed)
        model.fit(x, verbose=args.verbose, **fit)
    else:
        best = best_of_restarts(
            build,
            x,
            args.restarts,
            args.seed,
            screen_epochs=args.screen_epochs,
            verbose=args.verbose,
            **fit,
        )
        model = best.model
    seconds = time.perf_counter() - start
    result = {
        "model": type(model).__name__,
        "data": args.data,
        "samples": len(x),
        "backend": keras.backend.backend(),
        "train_seconds": round(seconds, 1),
    }
    if args.restarts > 1:
        result["seed"] = best.seed
        if args.screen_epochs is None:
            result["final_loss_by_seed"] = best.scores
        else:
            result["screen_epochs"] = args.screen_epochs
            result["screen_loss_by_seed"] = best.scores
    if args.model == "mae":
        result.update(cluster_report(model, x, y))
    model.save_to_preset(
        args.output,
        metrics={k: v for k, v in result.items() if k in ("acc", "nmi", "ari")},
        include_training_state=not args.inference_only,
        weights_dtype=weights_dtype(args),
    )
    result["preset"] = args.output
    print(json.dumps(result, indent=2))
    return 0


def _train_classifier(args) -> int:
    import keras
    import numpy as np

    from keras_mae.models import ImageClassifier

    (x_train, y_train), (x_test, y_test) = load_split(args.data)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    keras.utils.set_random_seed(args.seed)
    model = ImageClassifier(
        num_classes=int(max(y_train.max(), y_test.max())) + 1,
        input_shape=x_train.shape[1:],
    )
    model.compile()
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    scores = classifier_report(model, x_test, y_test)
    train_accuracy = float(np.mean(model.predict_classes(x_train) == y_train))
    scores["train_accuracy"] = round(train_accuracy, 4)
    result = {
        "model": "ImageClassifier",
        "data": args.data,
        "train_samples": len(x_train),
        **scores,
        "backend": keras.backend.backend(),
        "train_seconds": round(seconds, 1),
    }
    model.save_to_preset(
        args.output,
        metrics={k: v for k, v in scores.items() if k.endswith("accuracy")},
        include_training_state=not args.inference_only,
        weights_dtype=weights_dtype(args),
    )
    result["preset"] = args.output
    print(json.dumps(result, indent=2))
    return 0


def classifier_report(model, x_test, y_test) -> dict:
    """The test accuracy of an `ImageClassifier`, as `train` and `evaluate` print it.

    Example:

    >>> import numpy as np
    >>> import keras_mae
    >>> from keras_mae.cli.train_commands import classifier_report
    >>> classifier = keras_mae.from_preset("mnist_classifier")
    >>> blank = np.zeros((4, 28, 28, 1), "float32")
    >>> sorted(classifier_report(classifier, blank, np.zeros(4, "int64")))
    ['test_accuracy', 'test_samples']
    """
    import numpy as np

    accuracy = float(np.mean(model.predict_classes(x_test) == y_test))
    return {"test_samples": len(x_test), "test_accuracy": round(accuracy, 4)}


def cluster_report(model, x, y) -> dict:
    """ACC, NMI, ARI and the component sizes of a clustering model on `(x, y)`.

    Example:

    >>> import keras_mae
    >>> from keras_mae.cli.data import load_data
    >>> from keras_mae.cli.train_commands import cluster_report
    >>> report = cluster_report(keras_mae.from_preset("mae_digits"),
    ...     *load_data("digits"))
    >>> report["acc"], sum(report["component_usage"])
    (0.8325, 1797)
    """
    import numpy as np

    from keras_mae.metrics import clustering_scores

    # Labels are used here to report scores only, never for training.
    clusters = model.predict_clusters(x)
    scores = {k: round(v, 4) for k, v in clustering_scores(y, clusters).items()}
    usage = np.bincount(clusters, minlength=model.num_components)
    scores["component_usage"] = usage.tolist()
    return scores


def weights_dtype(args) -> str | None:
    """`--weights-dtype` as `save_to_preset` takes it (float32: None).

    Example:

    >>> import argparse
    >>> from keras_mae.cli.train_commands import weights_dtype
    >>> weights_dtype(argparse.Namespace(weights_dtype="float16"))
    'float16'
    """
    return None if args.weights_dtype in (None, "float32") else args.weights_dtype
