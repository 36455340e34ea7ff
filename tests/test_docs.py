"""The documentation site, checked without building it (`mkdocs build --strict`
builds it in .ci/run): the navigation, the generated pages of docs/hooks.py,
and the anchors and names other pages rely on."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CARDS = ROOT / "weights_cards"
# The public modules the API reference covers (one page each).
API_MODULES = (
    "keras_mae",
    "keras_mae.models",
    "keras_mae.layers",
    "keras_mae.training",
    "keras_mae.metrics",
    "keras_mae.datasets",
    "keras_mae.presets",
    "keras_mae.wrappers",
)


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_nav_page_exists_and_every_page_is_in_the_nav(config):
    pages = _nav_pages(config["nav"])
    assert len(pages) == len(set(pages)), pages
    for page in pages:
        assert (DOCS / page).is_file(), f"mkdocs.yml names {page}, not in docs/"
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert on_disk == set(pages), on_disk ^ set(pages)


def test_config_runs_the_hooks_and_mkdocstrings(config):
    assert config["hooks"] == ["docs/hooks.py"]
    handler = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    assert handler["options"]["docstring_style"] == "google"


def test_images_named_by_the_pages_exist():
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text("utf-8")):
            assert (page.parent / target).is_file(), f"{page.name}: {target}"


def test_benchmarks_start_with_current_results():
    text = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^(#{1,2}) (.+)$", text, flags=re.MULTILINE)
    # README links docs/benchmarks.md#current-results: the first section.
    assert headings == [
        ("#", "Benchmarks"),
        ("##", "Current results"),
        ("##", "History"),
    ]


def test_zoo_lists_every_preset_folder(hooks):
    from keras_mae.presets.registry import BUILTIN_PRESETS

    folders = sorted(p.parent.name for p in CARDS.glob("*/metadata.json"))
    assert folders, "no preset in weights_cards/"
    zoo = hooks.zoo_markdown()
    rows = [line for line in zoo.splitlines() if line.startswith("| [")]
    assert len(rows) == len(folders)
    for folder, row in zip(folders, rows, strict=True):
        assert f"`weights_cards/{folder}`" in row
        assert f"\n## {folder}\n" in zoo
    for info in BUILTIN_PRESETS.values():
        if info.folder:
            assert f"[`{info.name}`](#{info.folder})" in zoo


def test_zoo_numbers_come_from_the_files(hooks):
    for entry in hooks.zoo_entries():
        folder = CARDS / entry["folder"]
        metadata = json.loads((folder / "metadata.json").read_text("utf-8"))
        assert entry["parameters"] == metadata["inference_parameter_count"]
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert entry["block"] is not None, f"{folder.name}: no `keras-mae card` block"
        assert entry["block"] in card
        assert entry["block"].startswith("Measured ")


def test_zoo_without_a_card_or_registry(hooks, tmp_path):
    preset = tmp_path / "new-preset"
    preset.mkdir()
    (preset / "metadata.json").write_text(
        json.dumps({"registered_name": "keras_mae>GAN", "files": {}})
    )
    (tmp_path / "not-a-preset").mkdir()
    zoo = hooks.zoo_markdown(tmp_path, registry={})
    assert "(not built in)" in zoo and "not-a-preset" not in zoo
    assert "no measured results yet" in zoo


def _subcommand_names(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                names.append(f"{prefix} {name}")
                names += _subcommand_names(sub, f"{prefix} {name}")
    return names


def test_cli_reference_renders_every_subcommand(hooks):
    from keras_mae.cli.main import build_parser

    expected = _subcommand_names(build_parser(), "keras-mae")
    assert "keras-mae train" in expected
    helps = hooks.command_helps()
    assert [command for command, _, _ in helps] == ["keras-mae", *expected]
    for command, _, text in helps:
        assert text.startswith(f"usage: {command} "), text[:80]
    reference = hooks.cli_markdown()
    for command in expected:
        anchor = command.replace(" ", "-")
        assert f"[`{command}`](#{anchor})" in reference
        assert f"## `{command}` {{ #{anchor} }}" in reference


def test_generated_pages_have_their_placeholders(hooks):
    assert hooks.ZOO_PLACEHOLDER in (DOCS / "zoo.md").read_text("utf-8")
    assert hooks.CLI_PLACEHOLDER in (DOCS / "cli.md").read_text("utf-8")


def test_api_reference_covers_the_public_modules():
    documented = set()
    for page in (DOCS / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: (\S+)$", page.read_text("utf-8"), re.M))
    assert documented == set(API_MODULES)
    for name in API_MODULES:
        importlib.import_module(name)
    # The cross-references of the top-level page name real objects.
    index = (DOCS / "api" / "index.md").read_text(encoding="utf-8")
    for path in re.findall(r"\]\[(keras_mae\.[\w.]+)\]", index):
        module, _, attribute = path.rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), path
