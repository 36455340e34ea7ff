"""The MixtureAutoencoder's hyperparameter checks and old-config migration."""

import pytest

from keras_mae.models import mixture_config


def test_check_objective_converts_and_sorts():
    checked = mixture_config.check_objective(
        {"neighbor_weight": 2, "batch_entropy_weight": "auto", "num_neighbors": 4}
    )
    assert checked == {
        "batch_entropy_weight": "auto",
        "neighbor_weight": 2.0,
        "num_neighbors": 4,
    }
    assert isinstance(checked["neighbor_weight"], float)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"reconstruction_loss": "l1"}, "reconstruction_loss"),
        ({"component_floor": 1.5}, "component_floor"),
        ({"neighbor_weight": -1.0}, "neighbor_weight"),
        ({"num_neighbors": 0}, "num_neighbors"),
        ({"adversarial_loss": "nope"}, "adversarial"),
        ({"self_labeling": 0.0}, "self_labeling"),
        ({"self_labeling": 2}, "self_labeling"),
    ],
)
def test_check_objective_refuses_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        mixture_config.check_objective(values)


def test_check_objective_refuses_unknown_names():
    with pytest.raises(TypeError, match="no loss hyperparameter 'learning_rate'"):
        mixture_config.check_objective({"learning_rate": 0.1})


def test_migrate_config_gives_old_models_their_old_behaviour():
    old = {"num_components": 3, "latent_dim": 2}
    assert mixture_config.migrate_config(old) == {
        **old,
        "normalization": None,
        "batch_entropy_weight": 5.0,
        "self_labeling": None,
    }
    assert "normalization" not in old  # the caller's dict is left alone
    new = {**old, "normalization": "auto", "batch_entropy_weight": "auto"}
    # Saved before 2026-12-04: trained, and trains on, without self-labelling.
    assert mixture_config.migrate_config(new) == {**new, "self_labeling": None}
    today = {**new, "self_labeling": "auto"}
    assert mixture_config.migrate_config(today) == today


def test_split_legacy_compile():
    config = {"optimizer": "adam", "neighbor_weight": 0.5, "consistency_shear": 0.3}
    compile_config, objective, shear = mixture_config.split_legacy_compile(config)
    assert compile_config == {"optimizer": "adam"}
    assert objective == {"neighbor_weight": 0.5}
    assert shear == 0.3
    with pytest.raises(ValueError, match="consistency_shear"):
        mixture_config.split_legacy_compile({"consistency_shear": 2.0})


def test_auto_values_are_settled_by_the_kind_of_data():
    resolve = mixture_config.resolve
    assert resolve("neighbor_weight", "auto", "vectors") == 3.0
    assert resolve("num_neighbors", "auto", "vectors") == 10
    assert resolve("batch_entropy_weight", "auto", "vectors") == 1.0
    for kind in ("images", "other"):  # other shapes get the image values
        assert resolve("neighbor_weight", "auto", kind) == 1.0
        assert resolve("num_neighbors", "auto", kind) == 5
        assert resolve("batch_entropy_weight", "auto", kind) == 5.0
    assert resolve("hidden_units", "auto", "vectors") == (512, 256)
    assert resolve("hidden_units", "auto", "images") == (256, 128)
    assert resolve("hidden_units", (64,), None) == (64,)
    assert resolve("num_neighbors", 7, None) == 7  # a number is kept
    with pytest.raises(ValueError, match="has not seen yet"):
        resolve("num_neighbors", "auto", None)


def test_check_objective_takes_auto_only_where_it_means_something():
    checked = mixture_config.check_objective(
        {"neighbor_weight": "auto", "num_neighbors": "auto"}
    )
    assert checked == {"neighbor_weight": "auto", "num_neighbors": "auto"}
    with pytest.raises((TypeError, ValueError), match="component_floor"):
        mixture_config.check_objective({"component_floor": "auto"})
    with pytest.raises((TypeError, ValueError), match="num_neighbors"):
        mixture_config.check_objective({"num_neighbors": "automatic"})


@pytest.mark.parametrize(
    "value, expected",
    [("auto", "auto"), ([64, 32], (64, 32)), ((8,), (8,))],
)
def test_check_hidden_units(value, expected):
    assert mixture_config.check_hidden_units(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (5, "'auto' or a sequence of layer widths.*received 5"),
        ("wide", "'auto' or a sequence of layer widths.*received 'wide'"),
        ((), "at least one entry"),
        ((64, 0), "hidden_units"),
    ],
)
def test_check_hidden_units_refuses_bad_values(value, message):
    with pytest.raises(ValueError, match=message):
        mixture_config.check_hidden_units(value)
