"""A managed vllm serve's prefix caching is one setting, passed as vLLM's flag and shown in the engine section."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlnb.config import ServerSpec
from mlnb.errors import InputError
from mlnb.server.managed import ManagedServer


def _command(tmp_path: Path, **spec) -> list[str]:
    server = ManagedServer(ServerSpec(kind="vllm", port=8123, **spec), tmp_path, "/models/m", "m")
    return server.command()


def test_on_by_default_and_off_when_asked(tmp_path):
    assert "--enable-prefix-caching" in _command(tmp_path)
    off = _command(tmp_path, prefix_caching=False, engine_args={"enforce_eager": True})
    assert "--no-enable-prefix-caching" in off and "--enable-prefix-caching" not in off and "--enforce-eager" in off


def test_engine_args_cannot_set_it_a_second_way():
    from mlnb.config import validate_model

    with pytest.raises(InputError, match="server.prefix_caching"):
        validate_model(ServerSpec, {"engine_args": {"enable_prefix_caching": False}}, "preset.yaml server")
