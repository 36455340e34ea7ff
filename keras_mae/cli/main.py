"""The `keras-mae` command: cluster data, train, evaluate, sample, presets.

Run `keras-mae --help`, or `keras-mae COMMAND --help`. The backend is chosen
by `KERAS_BACKEND` (tensorflow, jax or torch), as for Keras itself. A command
that fails prints one line, `keras-mae COMMAND: error: ...`, and exits with 2
for bad input (arguments, files, shapes) or 1 for any other error;
`--debug` shows the traceback instead.

Example:

>>> from keras_mae.cli.main import main
>>> main(["presets"])  # doctest: +ELLIPSIS
gan_mnist: ...
0
"""

from __future__ import annotations

import argparse
import json
import sys

from keras_mae.cli import cluster as cluster_commands
from keras_mae.cli import preset_commands, train_commands
from keras_mae.cli.data import DATA_CHOICES, load_data, load_split


def _evaluate(args) -> int:
    from keras_mae import from_preset

    model = from_preset(args.preset)
    if hasattr(model, "predict_classes"):
        _, (x_test, y_test) = load_split(args.data)
        report = train_commands.classifier_report(model, x_test, y_test)
    elif hasattr(model, "predict_clusters"):
        report = train_commands.cluster_report(model, *load_data(args.data))
    else:
        raise ValueError(
            f"{args.preset} holds a {type(model).__name__}, which is neither a "
            "clustering model nor a classifier; nothing to evaluate."
        )
    print(json.dumps({"preset": args.preset, **report}, indent=2))
    return 0


def _check_generator(model, component, preset: str) -> None:
    if hasattr(model, "sample"):
        return
    if not hasattr(model, "generate"):
        raise ValueError(
            f"{preset} holds a {type(model).__name__}, which cannot generate "
            "samples; expected a MixtureAutoencoder or a GAN."
        )
    if component is not None:
        raise ValueError(
            f"{preset} holds a {type(model).__name__}, which has no "
            "components; drop --component."
        )


def _generate(model, num_samples: int, component, seed: int):
    """Samples of a MixtureAutoencoder (of `component`) or a GAN."""
    if hasattr(model, "sample"):
        return model.sample(num_samples, component=component, seed=seed)
    return model.generate(num_samples, seed=seed)


def _sample(args) -> int:
    from keras_mae import from_preset
    from keras_mae.cli.images import save_image_grid

    model = from_preset(args.preset)
    _check_generator(model, args.component, args.preset)
    images = _generate(model, args.num_samples, args.component, args.seed)
    save_image_grid(images, args.output)
    print(f"Wrote {len(images)} samples to {args.output}")
    return 0


def _frechet(args) -> int:
    import keras

    from keras_mae import from_preset
    from keras_mae.metrics import FrechetDistance, frechet_distance

    model = from_preset(args.preset)
    _check_generator(model, args.component, args.preset)
    fd = FrechetDistance(args.extractor, batch_size=args.batch_size)
    (x_train, _), (x_test, _) = load_split(args.data)
    num = min(args.num_samples, len(x_test), len(x_train))
    samples = keras.ops.convert_to_numpy(
        _generate(model, num, args.component, args.seed)
    )
    reference = fd.statistics(x_test[:num])
    result = {
        "preset": args.preset,
        "extractor": args.extractor or "default",
        "data": args.data,
        "num_samples": num,
        "component": args.component,
        "seed": args.seed,
        # Generated samples against the held-out test images.
        "frechet_distance": round(
            frechet_distance(*fd.statistics(samples), *reference), 4
        ),
        # Training images against test images: what real data scores, the
        # floor for `num` samples.
        "real_data_frechet_distance": round(
            frechet_distance(*fd.statistics(x_train[:num]), *reference), 4
        ),
    }
    print(json.dumps(result, indent=2))
    return 0


def _info(args) -> int:
    import keras

    import keras_mae

    print(
        f"keras_mae {keras_mae.__version__}, keras {keras.__version__}, "
        f"backend {keras.backend.backend()}"
    )
    return 0


def _add_preset_format_arguments(command: argparse.ArgumentParser) -> None:
    """The options of how a preset is written (`train` and `convert`)."""
    command.add_argument(
        "--inference-only",
        action="store_true",
        help="leave out the optimizer state and training-only layers (a "
        "smaller preset that cannot resume training)",
    )
    command.add_argument(
        "--weights-dtype",
        choices=["float16", "float32"],
        default=None,
        help="store the inference weights as float16 (half the size; they load "
        "back into float32) or float32; default: float32 for `train`, the "
        "source preset's for `convert`",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of `keras-mae` and all its subcommands.

    Example:

    >>> from keras_mae.cli.main import build_parser
    >>> build_parser().parse_args(["demo"]).output
    'keras-mae-demo'
    """
    parser = argparse.ArgumentParser(
        prog="keras-mae",
        description="Cluster data with adversarial Mixture Autoencoders, train "
        "and use them and GANs (backend from KERAS_BACKEND).",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error"
    )
    # `--debug` after the command too; SUPPRESS keeps the top-level value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cluster_commands.add_commands(commands, common)

    train = commands.add_parser(
        "train", parents=[common], help="train a model and save it as a preset"
    )
    train.add_argument("model", choices=["mae", "gan", "classifier"])
    train.add_argument("--data", default="mnist", help=DATA_CHOICES)
    train.add_argument("--output", required=True, help="preset folder to write")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=256)
    train.add_argument("--num-components", type=int, default=10)
    train.add_argument("--latent-dim", type=int, default=10)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--neighbor-weight",
        type=float,
        default=None,
        help="mae only: weight of the nearest-neighbour term (0 turns it off; "
        "default: MixtureAutoencoder's neighbor_weight)",
    )
    train.add_argument(
        "--hidden-units",
        type=int,
        nargs="+",
        default=None,
        help="mae only: widths of the autoencoders' hidden layers, e.g. "
        "--hidden-units 512 256 (default: MixtureAutoencoder's 'auto', "
        "(512, 256) for vectors and (256, 128) for images)",
    )
    train.add_argument(
        "--consistency-shear",
        type=float,
        default=None,
        help="mae only: largest shear of the consistency term's transforms, in "
        "[0, 1) (augmentation=RandomAffine(shear=...); 0 for images whose "
        "class changes under shear; default: RandomAffine's 0.4)",
    )
    train.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="mae only: train this many models (seeds SEED, SEED+1, ...) and "
        "keep the one with the lowest final training loss",
    )
    train.add_argument(
        "--screen-epochs",
        type=int,
        default=None,
        help="mae only, with --restarts: compare the restarts after this many "
        "epochs and train only the best to --epochs (cheaper restarts)",
    )
    train.add_argument(
        "--limit", type=int, default=0, help="use only the first N samples"
    )
    _add_preset_format_arguments(train)
    train.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    train.set_defaults(run=train_commands.run_train)

    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        help="clustering scores (all images) or a classifier's test accuracy",
    )
    evaluate.add_argument(
        "preset", help="built-in name, hf://owner/name[@rev] or folder"
    )
    evaluate.add_argument("--data", default="mnist", help=DATA_CHOICES)
    evaluate.set_defaults(run=_evaluate)

    sample = commands.add_parser(
        "sample", parents=[common], help="save a grid of samples as an image"
    )
    sample.add_argument("preset")
    sample.add_argument("--output", required=True, help="image file (.png)")
    sample.add_argument("--num-samples", type=int, default=64)
    sample.add_argument("--component", type=int, default=None)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=_sample)

    frechet = commands.add_parser(
        "frechet",
        parents=[common],
        help="Fréchet distance between a model's samples and the test images",
    )
    frechet.add_argument("preset", help="a MixtureAutoencoder or GAN preset")
    frechet.add_argument(
        "--extractor",
        default=None,
        help="ImageClassifier preset whose features are compared (default: "
        "the built-in 'mnist_classifier' once registered), e.g. "
        "weights_cards/mnist-classifier",
    )
    frechet.add_argument("--data", default="mnist", help=DATA_CHOICES)
    frechet.add_argument("--num-samples", type=int, default=10000)
    frechet.add_argument("--component", type=int, default=None)
    frechet.add_argument("--seed", type=int, default=0)
    frechet.add_argument("--batch-size", type=int, default=256)
    frechet.set_defaults(run=_frechet)

    convert = commands.add_parser(
        "convert",
        parents=[common],
        help="re-save a preset in today's format (safetensors weights; e.g. "
        "with float16 weights or inference-only), keeping its metrics and card",
    )
    convert.add_argument(
        "preset", help="built-in name, hf://owner/name[@rev] or folder"
    )
    convert.add_argument("output", help="the new preset folder")
    _add_preset_format_arguments(convert)
    convert.set_defaults(run=preset_commands.run_convert)

    card = commands.add_parser(
        "card",
        parents=[common],
        help="re-measure a preset and rewrite the numbers of its model card",
    )
    card.add_argument("preset", help="a preset folder, e.g. weights_cards/NAME")
    card.add_argument("--data", default="mnist", help=DATA_CHOICES)
    card.add_argument(
        "--num-samples",
        type=int,
        default=10_000,
        help="generated samples for FD, KID and precision/recall",
    )
    card.add_argument("--seed", type=int, default=0)
    card.add_argument("--card", help="the README.md to rewrite (default: the folder's)")
    card.set_defaults(run=preset_commands.run_card)

    presets = commands.add_parser(
        "presets", parents=[common], help="list the built-in presets"
    )
    presets.set_defaults(run=preset_commands.run_presets)

    upload = commands.add_parser(
        "upload", parents=[common], help="publish a preset folder to the Hub"
    )
    upload.add_argument("directory")
    upload.add_argument("handle", help="hf://owner/name")
    upload.set_defaults(run=preset_commands.run_upload)

    info = commands.add_parser("info", parents=[common], help="versions and backend")
    info.set_defaults(run=_info)
    return parser


# Errors that mean the input was wrong (exit 2, as argparse's usage errors).
INPUT_ERRORS = (ValueError, TypeError, OSError, ImportError)


def main(argv: list[str] | None = None) -> int:
    """Runs `keras-mae` with `argv` (default: the command line).

    Args:
        argv: The arguments after `keras-mae`; default `sys.argv[1:]`.

    Returns:
        The exit code: 0, 2 for bad input, 1 for another error.

    Example:

    >>> from keras_mae.cli.main import main
    >>> main(["cluster", "no-such-file.csv", "--num-components", "3"])
    2
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"keras-mae {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(
            f"keras-mae {args.command}: error: {message} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 2 if isinstance(error, INPUT_ERRORS) else 1


if __name__ == "__main__":
    sys.exit(main())
