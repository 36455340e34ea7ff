import numpy as np
import pytest

from keras_mae.datasets import ArrayBatches, NeighborPairs, nearest_neighbors
from keras_mae.datasets import neighbors as neighbors_module


def random_images(n=60, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 4, 4, 1)).astype("float32")


SEARCHES = {
    "sklearn": nearest_neighbors,  # the default method
    "keras": lambda x, k: nearest_neighbors(x, k, method="keras"),
    "cpu": neighbors_module._search_on_cpu,
    "device": neighbors_module._search_on_device,
}


@pytest.fixture
def empty_cache(monkeypatch):
    """No remembered searches: each call of `nearest_neighbors` searches."""
    monkeypatch.setattr(neighbors_module, "_CACHE", {})


@pytest.fixture(params=sorted(SEARCHES))
def search(request, empty_cache):
    return lambda x, k: SEARCHES[request.param](x.reshape(len(x), -1), k)


def test_nearest_neighbors_match_a_brute_force_search(search):
    x = random_images()
    flat = x.reshape(len(x), -1)
    distances = np.sum((flat[:, None] - flat[None]) ** 2, axis=-1)
    np.fill_diagonal(distances, np.inf)
    expected = np.argsort(distances, axis=1)[:, :3]
    np.testing.assert_array_equal(search(x, 3), expected)


def test_the_device_search_in_small_blocks_agrees(monkeypatch):
    x = random_images(97, seed=3).reshape(97, -1)
    whole = neighbors_module._search_on_device(x, 4)
    monkeypatch.setattr(neighbors_module, "_BLOCK_ELEMENTS", 97 * 10)  # 10 rows
    np.testing.assert_array_equal(neighbors_module._search_on_device(x, 4), whole)
    np.testing.assert_array_equal(neighbors_module._search_on_cpu(x, 4), whole)


def test_a_sample_is_not_its_own_neighbor_even_with_copies(search):
    x = np.concatenate([random_images(20), random_images(20)])  # every image twice
    neighbors = search(x, 1)[:, 0]
    assert np.all(neighbors != np.arange(40))
    np.testing.assert_array_equal(neighbors, np.r_[np.arange(20, 40), np.arange(20)])


def test_repeated_searches_are_remembered_by_content():
    x = random_images(seed=1)
    first = nearest_neighbors(x, 2)
    assert nearest_neighbors(x.copy(), 2) is first
    assert not first.flags.writeable
    changed = x.copy()
    changed[0] += 1.0
    assert nearest_neighbors(changed, 2) is not first


@pytest.mark.parametrize(
    "x, k, message",
    [
        (np.zeros((5, 3)), 0, "`num_neighbors` to be an integer >= 1; received 0"),
        (np.zeros((5, 3)), 2.5, "`num_neighbors` to be an integer >= 1"),
        (np.zeros((3, 3)), 3, r"more than 3 samples, .* received shape \(3, 3\)"),
        (np.zeros(6), 1, r"received shape \(6,\)"),
    ],
)
def test_nearest_neighbors_bad_input(x, k, message):
    with pytest.raises(ValueError, match=message):
        nearest_neighbors(x, k)


def test_nearest_neighbors_bad_method():
    message = r"`method` in \['keras', 'sklearn'\]; received 'gpu'"
    with pytest.raises(ValueError, match=message):
        nearest_neighbors(random_images(), 2, method="gpu")


def test_pairs_hold_every_sample_once_with_one_of_its_neighbors():
    x = random_images(50)
    neighbors = nearest_neighbors(x, 4)
    pairs = NeighborPairs(x, neighbors, batch_size=16, seed=0)
    assert len(pairs) == 4
    index = {image.tobytes(): i for i, image in enumerate(x)}
    seen = []
    for b in range(len(pairs)):
        batch = pairs[b]
        assert batch["x"].shape == batch["neighbor"].shape
        for image, partner in zip(batch["x"], batch["neighbor"], strict=True):
            i, j = index[image.tobytes()], index[partner.tobytes()]
            assert j in neighbors[i]
            seen.append(i)
    assert sorted(seen) == list(range(50))
    assert seen != list(range(50))  # shuffled


def partners(pairs):
    return np.concatenate([pairs[b]["neighbor"] for b in range(len(pairs))])


def test_resampling_draws_new_neighbors_every_epoch():
    x = random_images(50)
    neighbors = nearest_neighbors(x, 4)
    fixed = NeighborPairs(x, neighbors, 16, shuffle=False, resample=False, seed=0)
    first = partners(fixed)
    np.testing.assert_array_equal(fixed[0]["x"], x[:16])  # in order
    fixed.on_epoch_end()
    np.testing.assert_array_equal(partners(fixed), first)
    moving = NeighborPairs(x, neighbors, 16, shuffle=False, seed=0)
    first = partners(moving)
    moving.on_epoch_end()
    assert not np.array_equal(partners(moving), first)
    np.testing.assert_array_equal(
        partners(NeighborPairs(x, neighbors, 16, shuffle=False, seed=0)), first
    )


@pytest.mark.parametrize(
    "neighbors, kwargs, message",
    [
        (np.zeros((9, 2), "int64"), {}, r"integers of shape \(10, k\).*\(9, 2\)"),
        (np.zeros((10, 2), "float32"), {}, "integers of shape"),
        (np.full((10, 2), 10), {}, r"indices in \[0, 10\); received values in"),
        (np.zeros((10, 2), "int64"), {"batch_size": 0}, "`batch_size` to be an"),
    ],
)
def test_pairs_bad_input(neighbors, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeighborPairs(random_images(10), neighbors, **kwargs)


def test_pairs_index_out_of_range():
    pairs = NeighborPairs(random_images(10), nearest_neighbors(random_images(10), 2))
    with pytest.raises(IndexError, match="has 1 batches .*; received index 1"):
        pairs[1]


@pytest.mark.parametrize("method", ["sklearn", "keras"])
def test_from_array_searches_the_neighbors_itself(method, empty_cache):
    x = random_images(50)
    pairs = NeighborPairs.from_array(
        x, num_neighbors=4, batch_size=16, seed=0, method=method
    )
    by_hand = NeighborPairs(x, nearest_neighbors(x, 4), batch_size=16, seed=0)
    assert isinstance(pairs, ArrayBatches) and len(pairs) == 4
    np.testing.assert_array_equal(pairs.neighbors, by_hand.neighbors)
    for b in range(len(pairs)):
        for key in ("x", "neighbor"):
            np.testing.assert_array_equal(pairs[b][key], by_hand[b][key])


def test_pairs_are_a_function_of_seed_and_epoch():
    # Order and partners of epoch e are the same however e was reached (a
    # resumed run, another process): `set_epoch` serves them again.
    x = random_images(50)
    pairs = NeighborPairs.from_array(x, num_neighbors=4, batch_size=16, seed=3)

    def epoch():
        return [pairs[b][key] for b in range(len(pairs)) for key in ("x", "neighbor")]

    first = epoch()
    pairs.on_epoch_end()
    assert pairs.epoch == 1
    second = epoch()
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    pairs.set_epoch(0)
    for a, b in zip(epoch(), first, strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = NeighborPairs.from_array(x, num_neighbors=4, batch_size=16, seed=3)
    fresh.set_epoch(1)
    for a, b in zip(
        [fresh[i][k] for i in range(4) for k in ("x", "neighbor")], second, strict=True
    ):
        np.testing.assert_array_equal(a, b)
