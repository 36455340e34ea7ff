"""`nearest_neighbors(method="approximate")` (pynndescent) and `method="auto"`.

The first approximate search of a process compiles pynndescent's code
(numba, about 25 s on 2 cores); the searches themselves take well under a
second on these 2,000 points.
"""

import sys
import types

import numpy as np
import pytest

from keras_mae.datasets import NeighborPairs, nearest_neighbors
from keras_mae.datasets import neighbors as neighbors_module
from tests.testing import slow_except_on


def clustered_points(n=2000, dim=16, clusters=10, seed=0):
    """Clusters along random 4-dim subspaces, plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(clusters, dim))
    bases = rng.normal(size=(clusters, 4, dim)) / 2.0
    labels = rng.integers(0, clusters, n)
    spread = np.einsum("nr,nrd->nd", rng.normal(size=(n, 4)), bases[labels])
    return (centres[labels] + spread + 0.05 * rng.normal(size=(n, dim))).astype(
        "float32"
    )


def recall(found, exact):
    hits = [len(np.intersect1d(a, b)) for a, b in zip(found, exact, strict=True)]
    return sum(hits) / exact.size


# The approximate index is NumPy and numba only, the same on every backend;
# its first search in a process compiles for about 25 s.
pytestmark = slow_except_on("torch", "numba compiles pynndescent for 25 s")


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    """No remembered searches: each call of `nearest_neighbors` searches."""
    monkeypatch.setattr(neighbors_module, "_CACHE", {})


@pytest.fixture
def pynndescent():
    return pytest.importorskip("pynndescent")


def assert_valid(neighbors, n, k):
    assert neighbors.shape == (n, k) and neighbors.dtype == np.int64
    assert neighbors.min() >= 0 and neighbors.max() < n
    assert not np.any(neighbors == np.arange(n)[:, None])  # never itself
    assert all(len(set(row)) == k for row in neighbors.tolist())  # no repeats


def test_the_approximate_index_finds_the_exact_neighbors(pynndescent):
    x = clustered_points()
    found = nearest_neighbors(x, 5, method="approximate")
    assert_valid(found, len(x), 5)
    exact = nearest_neighbors(x, 5, method="sklearn")
    assert recall(found, exact) >= 0.95
    # Nearest first: distances along each row do not decrease.
    distances = np.linalg.norm(x[found] - x[:, None], axis=-1)
    assert np.all(np.diff(distances, axis=1) >= -1e-4)


def test_the_approximate_index_is_deterministic(pynndescent):
    x = clustered_points(seed=1)
    first = nearest_neighbors(x, 4, method="approximate")
    neighbors_module._CACHE.clear()
    second = nearest_neighbors(x, 4, method="approximate")
    assert second is not first
    np.testing.assert_array_equal(first, second)


def test_copies_are_neighbors_but_a_sample_never_its_own(pynndescent):
    base = clustered_points(700, seed=2)
    x = np.concatenate([base, base, base[:300]])  # 2 or 3 copies of each point
    n = len(x)
    found = nearest_neighbors(x, 3, method="approximate")
    assert_valid(found, n, 3)
    original = np.arange(n) % 700
    copies = [np.flatnonzero(original == i % 700) for i in range(n)]
    # Each sample's other copies (at distance 0) come first.
    for i, row in enumerate(found.tolist()):
        others = set(copies[i].tolist()) - {i}
        assert set(row[: len(others)]) == others, (i, row, others)


def test_samples_the_index_leaves_short_are_searched_exactly(monkeypatch):
    """A graph row holding only the sample itself and -1 gets an exact search."""
    x = clustered_points(300, seed=3)
    exact = nearest_neighbors(x, 3, method="sklearn")

    class FakeIndex:
        def __init__(self, data, n_neighbors, random_state):
            assert random_state == 0 and n_neighbors >= 4
            graph = np.c_[np.arange(len(data)), exact, exact[:, :1]][:, :n_neighbors]
            graph = np.pad(
                graph, ((0, 0), (0, n_neighbors - graph.shape[1])), constant_values=-1
            )
            graph[5] = -1
            graph[5, 2] = 5  # only itself, in the middle
            graph[7, 0] = -1
            self.neighbor_graph = (graph, None)

    fake = types.SimpleNamespace(NNDescent=FakeIndex)
    monkeypatch.setattr(neighbors_module, "_import_pynndescent", lambda: fake)
    found = nearest_neighbors(x, 3, method="approximate")
    np.testing.assert_array_equal(found, exact)


def test_auto_searches_exactly_up_to_the_threshold(monkeypatch):
    def refuse(flat, k):
        raise AssertionError("the approximate index searched")

    monkeypatch.setattr(neighbors_module, "_search_approximate", refuse)
    x = clustered_points(500, seed=4)
    assert len(x) <= neighbors_module._APPROXIMATE_ABOVE
    found = nearest_neighbors(x, 5)  # the default: "auto"
    np.testing.assert_array_equal(found, nearest_neighbors(x, 5, method="sklearn"))
    monkeypatch.setattr(neighbors_module, "_APPROXIMATE_ABOVE", 500)
    nearest_neighbors(x, 5, method="auto")  # 500 samples: still exact


def test_auto_uses_the_approximate_index_above_the_threshold(monkeypatch, pynndescent):
    monkeypatch.setattr(neighbors_module, "_APPROXIMATE_ABOVE", 999)
    x = clustered_points(1000, seed=5)
    found = nearest_neighbors(x, 5)
    assert found is nearest_neighbors(x, 5, method="approximate")  # one search
    assert found is not nearest_neighbors(x, 5, method="sklearn")
    pairs = NeighborPairs.from_array(x, num_neighbors=5, seed=0)  # "auto" too
    assert pairs.neighbors is found


def test_auto_warns_and_searches_exactly_without_pynndescent(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynndescent", None)  # `import` fails
    monkeypatch.setattr(neighbors_module, "_APPROXIMATE_ABOVE", 100)
    x = clustered_points(200, seed=6)
    with pytest.warns(UserWarning, match=r"quadratic.*keras-mae\[ann\]"):
        found = nearest_neighbors(x, 3)
    np.testing.assert_array_equal(found, nearest_neighbors(x, 3, method="sklearn"))


def test_approximate_without_pynndescent_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynndescent", None)
    with pytest.raises(ImportError, match=r"pynndescent.*`ann` extra.*\[ann\]"):
        nearest_neighbors(clustered_points(50), 3, method="approximate")


@pytest.mark.parametrize("method", ["gpu", "exact", "Auto", None])
def test_an_unknown_method_is_refused(method):
    message = r'"auto" or "approximate", .*\[\'keras\', \'sklearn\'\]; received'
    with pytest.raises(ValueError, match=message):
        nearest_neighbors(clustered_points(50), 3, method=method)
