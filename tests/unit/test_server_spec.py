"""The preset's `server:` section: typed, turned into a command line without surprises."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlnb.config import Preset, ServerSpec, validate_model
from mlnb.errors import InputError
from mlnb.server.managed import ManagedServer, engine_arg_flags


def test_engine_args_become_vllm_flags():
    flags = engine_arg_flags(
        {"enforce_eager": True, "enable_prefix_caching": False, "max_model_len": 2048, "seed": None,
         "compilation_config": {"level": 0}}
    )
    assert flags == ["--enforce-eager", "--no-enable-prefix-caching", "--max-model-len", "2048",
                     "--compilation-config", '{"level": 0}']


def test_command_template_is_filled_and_split(tmp_path):
    spec = ServerSpec(kind="command", command="{python} serve.py --model {model} --port {port} --name {served_model_name}",
                      port=8123)
    server = ManagedServer(spec, tmp_path, "/models/with space", "my-model")
    argv = server.command()
    assert argv[1:] == ["serve.py", "--model", "/models/with space", "--port", "8123", "--name", "my-model"]
    assert server.base_url == "http://127.0.0.1:8123/v1"


def test_bad_server_sections_are_one_line_errors():
    with pytest.raises(InputError, match="server.port"):
        validate_model(Preset, {"stages": ["a"], "server": {"port": 70000}}, "p.yaml")
    with pytest.raises(InputError, match="server.engine"):
        validate_model(Preset, {"stages": ["a"], "server": {"engine": {}}}, "p.yaml")
    with pytest.raises(InputError, match="command template"):
        validate_model(Preset, {"stages": ["a"], "server": {"kind": "command"}}, "p.yaml")


def test_the_shipped_vllm_serve_preset_loads():
    from mlnb.config import load_preset

    preset = load_preset(Path(__file__).resolve().parents[2] / "parameters" / "vllm-serve.yaml")
    assert preset.server is not None and preset.server.kind == "vllm"


def test_an_openai_stage_without_a_url_or_server_is_refused_before_the_run():
    from mlnb.pipeline import plan_run

    with pytest.raises(InputError, match="stage 03_server_perf base_url"):
        plan_run("smoke", ["03_server_perf"], [(None, "backend", "openai")])
    plan = plan_run("smoke", ["03_server_perf"], [(None, "backend", "openai"), (None, "base_url", "http://h:1/v1")])
    assert plan.stage_params["03_server_perf"].base_url == "http://h:1/v1"
