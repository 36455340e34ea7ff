"""MkDocs hooks: the pages that are generated when the site is built.

`mkdocs.yml` names this file under `hooks:`. Two placeholders are replaced in
a page's Markdown before it is rendered:

- `<!-- keras-mae: model zoo -->`: the table of the presets in
  `weights_cards/` (every folder with a `metadata.json`), from each folder's
  `metadata.json`, its model card's YAML front matter (`model-index`) and the
  card's "Measured results" block that `keras-mae card` writes, and the
  registry's name and description of each built-in preset;
- `<!-- keras-mae: cli reference -->`: the `--help` of `keras-mae` and of
  every subcommand, rendered from `keras_mae.cli.main.build_parser()`, so a
  new command appears in the reference without editing the docs.

Nothing is copied by hand: a re-measured card or a new command shows in the
next build. `tests/test_docs.py` checks both without building the site.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CARDS = ROOT / "weights_cards"
ZOO_PLACEHOLDER = "<!-- keras-mae: model zoo -->"
CLI_PLACEHOLDER = "<!-- keras-mae: cli reference -->"
# The markers `keras-mae card` writes around a card's measured results
# (keras_mae/cli/card.py, BEGIN and END).
_CARD_BLOCK = re.compile(
    r"<!-- keras-mae card: begin[^\n]*-->\n(?P<block>.*?)\n"
    r"<!-- keras-mae card: end -->",
    re.DOTALL,
)
_FRONT_MATTER = re.compile(r"\A---\n(?P<yaml>.*?)\n---\n", re.DOTALL)
HELP_WIDTH = 88


def _import_keras_mae():
    """Prefers the JAX backend for the build: the docs do not depend on it,
    and it imports fastest. A `KERAS_BACKEND` already set is kept."""
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("jax"):
        os.environ["KERAS_BACKEND"] = "jax"


# ----------------------------------------------------------------------
# The model zoo.
def preset_folders(cards: Path = CARDS) -> list[Path]:
    """The folders of `cards` that hold a preset (a `metadata.json`), sorted."""
    return sorted(
        path for path in cards.iterdir() if (path / "metadata.json").is_file()
    )


def read_card(path: Path) -> tuple[dict, str | None]:
    """A model card's YAML front matter and its "Measured results" block.

    Args:
        path: The card, a `README.md`.

    Returns:
        `(front matter, block)`: `{}` when the card has no front matter (or
        is missing), and None when it has no block written by `keras-mae
        card`.
    """
    if not path.is_file():
        return {}, None
    text = path.read_text(encoding="utf-8")
    front = _FRONT_MATTER.match(text)
    meta = (yaml.safe_load(front.group("yaml")) or {}) if front else {}
    block = _CARD_BLOCK.search(text)
    return meta, block.group("block").strip() if block else None


def _builtin_presets() -> dict:
    """The registry's built-in presets by folder (imports keras_mae)."""
    _import_keras_mae()
    from keras_mae.presets.registry import BUILTIN_PRESETS

    return {info.folder: info for info in BUILTIN_PRESETS.values() if info.folder}


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _headline(meta: dict) -> str:
    """The card's first `model-index` result: `metric value, ...` (split)."""
    for entry in meta.get("model-index") or []:
        for result in entry.get("results") or []:
            metrics = ", ".join(
                f"{metric['type']} {metric['value']}"
                for metric in result.get("metrics") or []
            )
            split = (result.get("dataset") or {}).get("split")
            if metrics:
                return f"{metrics} ({split})" if split else metrics
    return ""


def zoo_entries(cards: Path = CARDS, registry: dict | None = None) -> list[dict]:
    """One record per preset folder of `cards`, for the zoo's table.

    Args:
        cards: The `weights_cards/` folder.
        registry: `{folder: PresetInfo}` of the built-in presets; default:
            keras_mae's registry.

    Returns:
        Dicts with `folder`, `name` (the built-in name, or None),
        `description`, `model_class`, `backend`, `parameters`,
        `weights` (file, size and dtype), `datasets`, `headline` and `block`
        (the card's measured results, or None), in folder order.
    """
    registry = _builtin_presets() if registry is None else registry
    entries = []
    for folder in preset_folders(cards):
        metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        meta, block = read_card(folder / "README.md")
        info = registry.get(folder.name)
        weights = [
            f"{name}, {_megabytes(record['size'])}"
            for name, record in sorted(metadata.get("files", {}).items())
            if name.endswith((".safetensors", ".h5"))
        ]
        dtype = metadata.get("weights_dtype") or "float32"
        entries.append(
            {
                "folder": folder.name,
                "name": info.name if info else None,
                "description": info.description if info else "",
                "model_class": metadata.get("registered_name", "").split(">")[-1],
                "backend": metadata.get("backend"),
                "parameters": metadata.get("inference_parameter_count"),
                "weights": f"{'; '.join(weights)} ({dtype})",
                "datasets": meta.get("datasets") or [],
                "headline": _headline(meta),
                "block": block,
            }
        )
    return entries


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def zoo_markdown(cards: Path = CARDS, registry: dict | None = None) -> str:
    """The zoo: a summary table, then each preset's measured results."""
    entries = zoo_entries(cards, registry)
    lines = [
        "| preset | model | data | parameters (inference) | weights | "
        "first result of the card |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in entries:
        name = f"`{entry['name']}`" if entry["name"] else "(not built in)"
        lines.append(
            "| "
            + " | ".join(
                _cell(value)
                for value in (
                    f"[{name}](#{entry['folder']}) (`weights_cards/{entry['folder']}`)",
                    f"`{entry['model_class']}`",
                    ", ".join(entry["datasets"]),
                    f"{entry['parameters']:,}" if entry["parameters"] else "",
                    entry["weights"],
                    entry["headline"],
                )
            )
            + " |"
        )
    for entry in entries:
        lines += ["", f"## {entry['folder']}", ""]
        if entry["name"]:
            lines += [
                f"{entry['description']}",
                "",
                "```python",
                "import keras_mae",
                "",
                f'model = keras_mae.from_preset("{entry["name"]}")',
                "```",
                "",
            ]
        lines.append(
            f"Saved on {entry['backend']}; the card is "
            f"`weights_cards/{entry['folder']}/README.md`."
        )
        if entry["block"]:
            lines += ["", entry["block"]]
        else:
            lines += ["", "The card has no measured results yet (`keras-mae card`)."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------
# The CLI reference.
def _subcommands(parser: argparse.ArgumentParser):
    """`(name, help, subparser)` of each subcommand of `parser`, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            seen = set()
            for name, subparser in action.choices.items():
                if id(subparser) in seen:  # an alias
                    continue
                seen.add(id(subparser))
                yield name, helps.get(name) or "", subparser


def command_helps(parser: argparse.ArgumentParser | None = None) -> list[tuple]:
    """`(command, help line, --help text)` of the parser and every subcommand.

    Args:
        parser: Default: `keras_mae.cli.main.build_parser()`.

    Returns:
        The top-level parser first (command `keras-mae`), then each
        subcommand, depth first, as `keras-mae train`, ....
    """
    if parser is None:
        _import_keras_mae()
        from keras_mae.cli.main import build_parser

        parser = build_parser()
    result = []

    def visit(command: str, summary: str, current: argparse.ArgumentParser):
        # A fixed width, so the reference does not depend on the terminal.
        current.formatter_class = functools.partial(
            current.formatter_class, width=HELP_WIDTH
        )
        result.append((command, summary, current.format_help().rstrip()))
        for name, help_line, subparser in _subcommands(current):
            visit(f"{command} {name}", help_line, subparser)

    visit(parser.prog, parser.description or "", parser)
    return result


def cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The CLI reference: a table of the commands, then each one's `--help`."""
    helps = command_helps(parser)
    lines = ["| command | what it does |", "| --- | --- |"]
    for command, summary, _ in helps[1:]:
        anchor = command.replace(" ", "-")
        lines.append(f"| [`{command}`](#{anchor}) | {_cell(summary)} |")
    for command, _, text in helps:
        anchor = command.replace(" ", "-")
        lines += ["", f"## `{command}` {{ #{anchor} }}", "", "```text", text, "```"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------
# The MkDocs event.
def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if ZOO_PLACEHOLDER in markdown:
        markdown = markdown.replace(ZOO_PLACEHOLDER, zoo_markdown())
    if CLI_PLACEHOLDER in markdown:
        markdown = markdown.replace(CLI_PLACEHOLDER, cli_markdown())
    return markdown
