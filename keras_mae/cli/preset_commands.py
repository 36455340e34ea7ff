"""The `keras-mae` commands that handle presets: convert, card, presets, upload.

Each `run_NAME(args)` takes the parsed arguments of `keras-mae NAME`
(`keras_mae.cli.main.build_parser`) and returns the exit code.
"""

from __future__ import annotations

import json


def run_convert(args) -> int:
    """`keras-mae convert PRESET OUTPUT`: re-saves a preset in today's format.

    Keeps the source's metrics, model card and (unless `--inference-only`)
    training state; `--weights-dtype` changes the stored precision.

    Example:

    >>> import contextlib, io, os, tempfile
    >>> from keras_mae.cli.main import build_parser
    >>> from keras_mae.cli.preset_commands import run_convert
    >>> output = os.path.join(tempfile.mkdtemp(), "digits")
    >>> args = build_parser().parse_args(["convert", "mae_digits", output])
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     code = run_convert(args)
    >>> code, sorted(os.listdir(output))
    (0, ['README.md', 'config.json', 'metadata.json', 'model.safetensors'])
    """
    import shutil
    from pathlib import Path

    from keras_mae import from_preset
    from keras_mae.presets import integrity, preset_metadata

    metadata = preset_metadata(args.preset)
    _, training_name = integrity.weights_file_names(metadata)
    resume = not args.inference_only and training_name in metadata["files"]
    dtype = metadata.get("weights_dtype")
    if args.weights_dtype is not None:
        dtype = None if args.weights_dtype == "float32" else args.weights_dtype
    model = from_preset(args.preset, load_training_state=resume)
    output = Path(args.output)
    source_card = Path(args.preset) / integrity.README_FILE
    model.save_to_preset(
        output,
        metrics=metadata["metrics"],
        include_training_state=resume,
        weights_dtype=dtype,
    )
    if source_card.is_file() and (
        source_card.resolve() != (output / source_card.name).resolve()
    ):
        shutil.copyfile(source_card, output / source_card.name)  # its model card
    print(
        json.dumps(
            {
                "preset": args.preset,
                "output": args.output,
                "format_version": integrity.FORMAT_VERSION,
                "weights_dtype": dtype,
                "training_state": resume,
            },
            indent=2,
        )
    )
    return 0


def run_card(args) -> int:
    """`keras-mae card FOLDER --data DATA`: re-measures a preset's card numbers.

    Example:

    >>> import contextlib, io, os, tempfile
    >>> from keras_mae.cli.card import read_results
    >>> from keras_mae.cli.main import build_parser, main
    >>> from keras_mae.cli.preset_commands import run_card
    >>> folder = os.path.join(tempfile.mkdtemp(), "digits")
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     _ = main(["convert", "mae_digits", folder])
    ...     code = run_card(build_parser().parse_args(
    ...         ["card", folder, "--data", "digits"]))
    >>> code, read_results(os.path.join(folder, "README.md"))[0]["value"]
    (0, 0.8325)
    """
    import datetime
    import shlex
    from pathlib import Path

    from keras_mae import from_preset
    from keras_mae.cli import card as cards
    from keras_mae.presets import integrity, preset_metadata

    folder = Path(args.preset)
    readme = Path(args.card) if args.card else folder / integrity.README_FILE
    if not args.card and not folder.is_dir():
        raise ValueError(
            f"keras-mae card rewrites the README.md of a preset folder; "
            f"{args.preset!r} is not one. Give the folder (weights_cards/NAME) "
            "or --card PATH."
        )
    metadata = preset_metadata(args.preset)
    model = from_preset(args.preset)
    results = cards.measure(model, args.data, args.num_samples, args.seed)
    weights_name, _ = integrity.weights_file_names(metadata)
    size = metadata["files"][weights_name]["size"]
    facts = [
        f"Parameters: {metadata['inference_parameter_count']:,} for inference "
        f"({metadata['parameter_count']:,} in all)",
        f"Weights: {weights_name}, {size / 1e6:.1f} MB "
        f"({metadata.get('weights_dtype') or 'float32'})",
    ]
    command = "keras-mae card " + shlex.join(
        [args.preset, "--data", args.data, "--num-samples", str(args.num_samples)]
    )
    cards.write_card(
        readme,
        folder.resolve().name,
        results,
        f"KERAS_BACKEND={_backend()} {command}",
        datetime.date.today().isoformat(),
        facts,
    )
    print(json.dumps({"card": str(readme), "results": results}, indent=2))
    return 0


def _backend() -> str:
    import keras

    return keras.backend.backend()


def run_presets(args) -> int:
    """`keras-mae presets`: lists the built-in presets and where they load from.

    Example:

    >>> from keras_mae.cli.main import build_parser
    >>> from keras_mae.cli.preset_commands import run_presets
    >>> run_presets(build_parser().parse_args(["presets"]))  # doctest: +ELLIPSIS
    gan_mnist: ...
    0
    """
    from keras_mae import list_presets
    from keras_mae.presets import bundled

    presets = list_presets()
    if not presets:
        print("No built-in presets are registered; load hf://owner/name or a folder.")
    for name, info in presets.items():
        folder = bundled.bundled_folder(info.folder)
        where = f"bundled ({folder})" if folder else f"from the Hub ({info.hub_handle})"
        print(f"{name}: {info.description} [{info.model_class}; {where}]")
    return 0


def run_upload(args) -> int:
    """`keras-mae upload FOLDER hf://owner/name`: publishes a preset folder.

    Example:

    >>> from keras_mae.cli.main import build_parser
    >>> from keras_mae.cli.preset_commands import run_upload
    >>> run_upload(build_parser().parse_args(  # doctest: +SKIP
    ...     ["upload", "./mae_digits", "hf://me/mae-digits"]))
    Uploaded ./mae_digits to hf://me/mae-digits: https://huggingface.co/...
    0
    """
    from keras_mae import upload_preset

    url = upload_preset(args.handle, args.directory)
    print(f"Uploaded {args.directory} to {args.handle}: {url}")
    return 0
