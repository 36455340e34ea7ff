"""`keras-mae card`: measured numbers written into a model card, and only there."""

import json
import shutil
from pathlib import Path

import pytest

from keras_mae.cli import card
from keras_mae.cli.main import main
from keras_mae.presets import integrity

CARDS = Path(__file__).resolve().parents[2] / "weights_cards"


@pytest.fixture
def digits_preset(tmp_path):
    return Path(shutil.copytree(CARDS / "mae-digits", tmp_path / "mae-digits"))


def test_card_rewrites_the_table_and_model_index_but_not_the_preset(
    digits_preset, capsys
):
    metadata_before = (digits_preset / "metadata.json").read_bytes()
    readme = digits_preset / "README.md"
    readme.write_text(readme.read_text().split(card.BEGIN)[0] + "Handwritten.\n")
    assert main(["card", str(digits_preset), "--data", "digits"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in out["results"]]
    assert names == ["acc", "nmi", "ari"]
    text = readme.read_text()
    assert "Handwritten." in text and text.count(card.BEGIN) == 1
    assert "keras-mae card" in text and "| acc |" in text
    assert "Parameters: 3,351,214 for inference" in text
    assert card.read_results(readme) == [
        {k: r[k] for k in ("name", "value", "dataset", "split")} for r in out["results"]
    ]
    # Measured again: the block is replaced, not appended.
    assert main(["card", str(digits_preset), "--data", "digits"]) == 0
    assert readme.read_text().count(card.BEGIN) == 1
    # The content pin covers metadata.json, which the card never touches.
    assert (digits_preset / "metadata.json").read_bytes() == metadata_before
    integrity.verify_file(
        digits_preset / "config.json",
        json.loads(metadata_before),
        "test",
    )


def test_card_needs_a_folder_or_a_card_path(capsys):
    assert main(["card", "mae_digits", "--data", "digits"]) == 2
    assert "is not one" in capsys.readouterr().err


def test_a_failed_measurement_leaves_the_card_alone(digits_preset, monkeypatch, capsys):
    before = (digits_preset / "README.md").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(card, "measure", broken)
    assert main(["card", str(digits_preset), "--data", "digits"]) == 1
    assert "keras-mae card: error: boom" in capsys.readouterr().err
    assert (digits_preset / "README.md").read_text() == before
    with pytest.raises(RuntimeError):  # --debug: the traceback
        main(["--debug", "card", str(digits_preset), "--data", "digits"])
    assert (digits_preset / "README.md").read_text() == before
