"""Compiled, batched inference equals the eager path: mixture_inference.py."""

import keras
import numpy as np

from keras_mae.models import MixtureAutoencoder


def test_compiled_inference_equals_eager_calls():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (130, 4)).astype("float32")
    model = MixtureAutoencoder(3, 2, hidden_units=(8,), seed=0)
    model.compile()
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    ops = keras.ops
    codes = model._encode_all(ops.convert_to_tensor(x))
    probabilities = ops.convert_to_numpy(model.assignment(codes))
    # batch_size 50 leaves a partial last batch.
    np.testing.assert_allclose(model.predict_proba(x, 50), probabilities, atol=1e-6)
    got_codes, got_probabilities = model.encode(x, 50)
    np.testing.assert_allclose(got_codes, ops.convert_to_numpy(codes), atol=1e-6)
    np.testing.assert_allclose(got_probabilities, probabilities, atol=1e-6)
    one_hot = ops.one_hot(np.argmax(probabilities, -1), 3)
    normalized = model._normalized(ops.convert_to_tensor(x))
    assigned = model._select(model._decode_all(codes), one_hot)
    eager = ops.convert_to_numpy(model._denormalized(assigned))
    np.testing.assert_allclose(model.reconstruct(x, 50), eager, rtol=1e-5, atol=1e-5)
    errors = np.mean((ops.convert_to_numpy(assigned - normalized)) ** 2, axis=1)
    np.testing.assert_allclose(model.anomaly_score(x, 50), errors, rtol=1e-5)
    z = rng.normal(size=(7, 2)).astype("float32")
    decoded = model.decode(z, component=2)
    tiled = ops.repeat(ops.expand_dims(z, 1), 3, axis=1)
    expected = model._denormalized(model._decode_all(tiled)[:, 2])
    np.testing.assert_allclose(decoded, ops.convert_to_numpy(expected), rtol=1e-5)


def test_views_follow_loaded_weights(tmp_path):
    x = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    trained = MixtureAutoencoder(2, 2, hidden_units=(8,), seed=0)
    trained.compile()
    trained.fit(x, epochs=2, batch_size=32, verbose=0)
    other = MixtureAutoencoder(2, 2, hidden_units=(8,), seed=1)
    other.compile()
    other.fit(x, epochs=1, batch_size=32, verbose=0)
    other.reconstruct(x)  # builds its views
    path = tmp_path / "trained.weights.h5"
    trained.save_weights(path)
    other.load_weights(path)
    np.testing.assert_allclose(other.reconstruct(x), trained.reconstruct(x), 1e-5)
