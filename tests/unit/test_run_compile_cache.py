"""On a GPU the static path keeps inductor's cache in the run folder, so later stages reuse its kernels.
Importing torch._dynamo (transformers does) sets TORCHINDUCTOR_CACHE_DIR to inductor's default folder;
that value was taken for the user's, and every stage compiled into the default folder instead."""

import json
import os

import pytest

from mlnb.backends import hf
from mlnb.config import StageParams

TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256}


class _Built(Exception):
    """Stops load() where the model would be built on the (absent) GPU."""


def test_the_default_folder_torch_sets_on_import_gives_way_to_the_run_folder(tmp_path, monkeypatch):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps(TINY))
    import torch._dynamo  # noqa: F401 - sets the variable to the default, as a stage's imports do

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", hf._inductor_default_cache_dir())
    monkeypatch.setattr(hf, "pick_device", lambda requested: "cuda")
    seen = {}

    def build(config, **kwargs):
        seen["cache"] = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        raise _Built

    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(AutoModelForCausalLM, "from_config", build)
    params = StageParams(backend="hf", model=str(tmp_path / "model"), load_format="dummy", decode_path="static",
                         run_dir=str(tmp_path / "run"), stage="01_offline_perf")
    backend = hf.HFBackend(params)
    with pytest.raises(_Built):
        backend.load()
    assert seen["cache"] == str(tmp_path / "run" / "compile-cache")
    assert backend.compile_cache_note == "compile-cache/ in the run folder (new)"


def test_a_cache_folder_from_the_environment_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    note = hf.use_run_compile_cache(tmp_path / "run")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")
    assert "from the environment" in note and not (tmp_path / "run").exists()
