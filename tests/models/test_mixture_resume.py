"""A MixtureAutoencoder run killed after epoch k resumes to the same model."""

import keras
import numpy as np

from tests import resume

BACKEND = keras.backend.backend()


def test_a_killed_run_resumes_to_the_uninterrupted_model(tmp_path):
    # Everything random in `fit` is on (see `make_mae`): the batch order and
    # the neighbour draws are functions of (seed, epoch), the augmentation's
    # and the model's seed states and the re-seeding counters are saved in
    # the backup, and each re-seeding is seeded by (seed, epoch).
    result = resume.kill_and_resume(
        "tests.resume:make_mae", epochs=4, kill_after=2, workdir=tmp_path
    )
    assert result.resumed_epochs == [2, 3]
    # PyTorch's CPU kernels may reduce in another order in a new process.
    result.assert_same(atol=1e-6 if BACKEND == "torch" else 0.0)


def test_a_killed_run_with_a_decaying_learning_rate_resumes_alike(tmp_path):
    # The schedule's step is the optimizer's iteration counter, which the
    # backup holds with the optimizer's variables.
    result = resume.kill_and_resume(
        "tests.resume:make_mae_with_decay", epochs=4, kill_after=2, workdir=tmp_path
    )
    assert result.resumed_epochs == [2, 3]
    result.assert_same(atol=1e-6 if BACKEND == "torch" else 0.0)


def test_the_reseeding_counters_are_saved_with_the_weights(tmp_path):
    model, x, _ = resume.make_mae()
    model.build((None, *x.shape[1:]))
    model.reseed_counters[:] = [0, 2, 1, 0]
    path = tmp_path / "mae.weights.h5"
    model.save_weights(path)
    fresh, _, _ = resume.make_mae()
    fresh.build((None, *x.shape[1:]))
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.reseed_counters, [0, 2, 1, 0])
