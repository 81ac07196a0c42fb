"""Shared test set-up: the embedded model's tokenizer for tests that decode real token ids."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    # Tests that need a real tokenizer read MLNB_TEST_TOKENIZER; point it at the embedded model
    # (prepared by `make test` before pytest starts; prepared here if someone runs pytest directly).
    if "MLNB_TEST_TOKENIZER" not in os.environ:
        from mlnb.models.embedded import prepare_embedded_model

        os.environ["MLNB_TEST_TOKENIZER"] = str(prepare_embedded_model())
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def embedded_model_dir() -> str:
    return os.environ["MLNB_TEST_TOKENIZER"]
