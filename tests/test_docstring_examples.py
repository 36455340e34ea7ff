"""Runs the docstring examples of every module of `keras_mae`, on each backend.

The modules are found by walking the package (`pkgutil.walk_packages`), so a
new module is covered without touching this file. For each module this runs

- its doctest examples (`>>>` lines), with `ELLIPSIS` and
  `NORMALIZE_WHITESPACE`, and
- its ```python fenced blocks: those of the module docstring and of every
  public class and function defined in the module, and of their public
  methods (and properties, static and class methods),

and checks that every public class and function defined in a module has a
docstring with an example (a `>>>` line or a ```python block), and that the
public methods of those classes have docstrings.

Conventions for the examples:

- Every example starts from a fresh namespace: it imports what it uses, from
  public `keras_mae` modules, as a reader copying it would.
- Examples run in an empty temporary working directory, with the Hub
  offline (`HF_HUB_OFFLINE=1`), and must leave that directory empty: files go
  to `tempfile` directories.
- An example that needs the network (Hub downloads or uploads, the MNIST
  download) is skipped: a `>>>` line with `# doctest: +SKIP`, a fenced block
  whose first line is `SKIP_MARKER` (`# skip: needs the network`). Skipped
  fenced blocks are still compiled, so they stay valid Python. The only
  other skipped lines are the approximate neighbour search's (an optional
  extra, compiling for 25 s; tests/datasets/test_neighbors_approximate.py
  runs the same search).
- Examples are small: a few samples, one epoch, a few steps. The built-in
  presets load offline from the package, so examples may use them.

Run one backend per process, e.g.
`KERAS_BACKEND=jax python -m pytest tests/test_docstring_examples.py`.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import os
import pkgutil
import types

import keras
import pytest

import keras_mae

# The first line of a fenced block that must not run here (needs the network).
SKIP_MARKER = "# skip: needs the network"

DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _raise(name: str) -> None:
    """`walk_packages`'s `onerror`: a package that fails to import fails the run."""
    raise ImportError(f"walking keras_mae: cannot import {name}")


def _module_names() -> list[str]:
    names = [keras_mae.__name__]
    walk = pkgutil.walk_packages(
        keras_mae.__path__, keras_mae.__name__ + ".", onerror=_raise
    )
    names += [info.name for info in walk]
    return sorted(names)


MODULES = _module_names()


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _public_module(name: str) -> bool:
    return all(_is_public(part) for part in name.split("."))


def _defined_here(module: types.ModuleType) -> list[tuple[str, object]]:
    """The public classes and functions that `module` defines (not imports)."""
    return [
        (name, obj)
        for name, obj in sorted(vars(module).items())
        if _is_public(name)
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == module.__name__
    ]


def _methods(cls: type) -> list[tuple[str, object]]:
    """The public methods and properties that `cls` itself defines."""
    found = []
    for name, member in sorted(vars(cls).items()):
        if not _is_public(name):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            found.append((name, member))
    return found


def _documented_objects(module: types.ModuleType):
    """`(qualified name, object)` for the module and what its examples live on."""
    yield module.__name__, module
    for name, obj in _defined_here(module):
        yield f"{module.__name__}.{name}", obj
        if inspect.isclass(obj):
            for method_name, method in _methods(obj):
                yield f"{module.__name__}.{name}.{method_name}", method


def _own_doc(obj: object) -> str:
    """`obj`'s own docstring, cleaned (not one inherited from a base class)."""
    doc = obj.__doc__ if isinstance(obj.__doc__, str) else ""
    return inspect.cleandoc(doc)


def _fenced_blocks(doc: str) -> list[str]:
    """The bodies of the ```python blocks of `doc`, dedented."""
    blocks = []
    lines = iter(doc.splitlines())
    for line in lines:
        if line.strip() == "```python":
            indent = len(line) - len(line.lstrip())
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner[indent:])
            blocks.append("\n".join(body))
    return blocks


def _has_example(doc: str) -> bool:
    return any(line.lstrip().startswith(">>>") for line in doc.splitlines()) or bool(
        _fenced_blocks(doc)
    )


@pytest.fixture(scope="module", autouse=True)
def fast_jax_compilation():
    """On JAX, compiles the examples' steps without most XLA optimizations.

    Each example builds new small models, whose every step (and, eagerly,
    every op) JAX compiles first; on 2 CPU cores the optimizations took
    about half of this file's time, and tiny examples do not need them.
    Restored afterwards.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture
def example_sandbox(tmp_path, monkeypatch):
    """An empty working directory and an offline Hub for the examples.

    Keras's, NumPy's and Python's global random states are seeded, so a
    module's examples (whose unseeded weights come from them) run the same
    whatever ran before.
    """
    from huggingface_hub import constants

    keras.utils.set_random_seed(0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    yield tmp_path
    left = sorted(os.listdir(tmp_path))
    assert not left, f"examples wrote into the working directory: {left}"


@pytest.mark.parametrize("module_name", MODULES)
def test_examples_run(module_name, example_sandbox):
    module = importlib.import_module(module_name)
    failures = []

    # >>> examples, each docstring in a fresh namespace.
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS, verbose=False)
    report = io.StringIO()
    for test in finder.find(module, module_name, globs={"__name__": "__main__"}):
        if test.examples:
            result = runner.run(test, out=report.write)
            if result.failed:
                failures.append(test.name)

    # ```python blocks, each in a fresh namespace.
    for qualname, obj in _documented_objects(module):
        for i, block in enumerate(_fenced_blocks(_own_doc(obj))):
            code = compile(block, f"<{qualname} example {i + 1}>", "exec")
            if block.lstrip().startswith(SKIP_MARKER):
                continue
            exec(code, {"__name__": "__main__"})

    assert not failures, f"doctest examples failed in {failures}:\n{report.getvalue()}"


@pytest.mark.parametrize("module_name", MODULES)
def test_public_api_has_examples(module_name):
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} has no module docstring"
    if not _public_module(module_name):
        return
    missing_example, missing_doc = [], []
    for name, obj in _defined_here(module):
        if not _has_example(_own_doc(obj)):
            missing_example.append(name)
        if inspect.isclass(obj):
            for method_name, method in _methods(obj):
                if not _own_doc(method):
                    missing_doc.append(f"{name}.{method_name}")
    assert not (missing_example or missing_doc), (
        f"no docstring example: {missing_example}; "
        f"methods without a docstring: {missing_doc}"
    )


def test_walk_finds_the_package():
    assert "keras_mae.models.mixture_autoencoder" in MODULES
    assert "keras_mae.cli.cluster" in MODULES
