"""Fixtures for the preset tests: an isolated Hub cache and a local Hub server."""

from __future__ import annotations

import pytest

from tests.presets.hub_server import FakeHub


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hub cache for this test."""
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return cache


@pytest.fixture
def fake_hub(hub_cache, monkeypatch):
    """A running local Hub; keras_mae reaches it through HF_ENDPOINT."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    yield hub
    hub.stop()
