"""The README as a newcomer follows it: its code runs, its commands are real."""

import os
import re
from pathlib import Path

import numpy as np

from tests.testing import slow_except_on

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO_ROOT, "README.md")
# About two minutes of reading at 250 words a minute, code blocks aside.
MAX_PROSE_WORDS = 500


def blocks(language: str) -> list[str]:
    text = Path(README).read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


def prose() -> str:
    text = Path(README).read_text(encoding="utf-8")
    return re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)


@slow_except_on("jax", "its code paths run on every backend in the model tests")
def test_python_blocks_run_as_written():
    """Every ```python block, in order, in one namespace (as pasted in a REPL)."""
    namespace: dict = {}
    code = blocks("python")
    assert len(code) >= 3
    for number, block in enumerate(code):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    # What the blocks promise.
    assert namespace["clusters"].shape == (1797,)  # the preset block, last
    assert namespace["probabilities"].shape == (178, 3)
    np.testing.assert_allclose(namespace["probabilities"].sum(axis=1), 1, atol=1e-5)
    assert namespace["new_rows"].shape == (5, 13)
    assert sorted(set(namespace["labels"].tolist())) <= [0, 1, 2]


def test_the_two_commands():
    commands = [block.strip() for block in blocks("bash")]
    assert commands[0].endswith("&& keras-mae demo")
    test = next(c for c in commands if c.endswith("scripts/test_all_backends.py"))
    assert test.startswith("python -m pip install torch==2.13.0 && ")
    # CI runs the README's test command verbatim.
    ci = Path(REPO_ROOT, ".ci", "run").read_text(encoding="utf-8")
    assert test in ci


def test_every_cli_example_parses():
    from keras_mae.cli.main import build_parser

    parsed = 0
    for block in blocks("bash"):
        for line in block.splitlines():
            words = line.split("&&")[-1].split()
            while words and "=" in words[0]:  # VARIABLE=value prefixes
                words.pop(0)
            if words[:1] == ["keras-mae"]:
                build_parser().parse_args(words[1:])
                parsed += 1
    assert parsed >= 3


def test_links_exist_and_reading_time():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", prose()):
        if "://" not in target:
            assert os.path.exists(os.path.join(REPO_ROOT, target)), target
    words = len(prose().split())
    assert words <= MAX_PROSE_WORDS, f"README prose is {words} words"
