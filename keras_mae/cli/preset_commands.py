"""The `keras-mae` commands that handle presets: convert, card, presets, upload."""

from __future__ import annotations

import json


def convert(args) -> int:
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


def card(args) -> int:
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


def presets(args) -> int:
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


def upload(args) -> int:
    from keras_mae import upload_preset

    url = upload_preset(args.handle, args.directory)
    print(f"Uploaded {args.directory} to {args.handle}: {url}")
    return 0
