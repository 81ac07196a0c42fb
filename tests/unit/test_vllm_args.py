"""Preset engine settings reach vLLM's own EngineArgs unchanged (no engine is started)."""

import pytest

from mlnb.config import StageParams, load_preset, resolve_stage_params
from mlnb.errors import InputError
from mlnb.paths import PRESETS_DIR
from mlnb.stages.registry import STAGES


def test_distributed_executor_backend_is_checked():
    with pytest.raises(InputError, match="distributed_executor_backend"):
        resolve_stage_params(load_preset(PRESETS_DIR / "smoke.yaml"), "01_offline_perf", {}, [(None, "distributed_executor_backend", "mpi")], "cli")


@pytest.mark.slow  # importing vLLM takes seconds to a minute
def test_engine_settings_pass_through_to_vllm_engine_args():
    pytest.importorskip("vllm", reason="the vllm extra is not installed")
    from vllm.engine.arg_utils import AsyncEngineArgs, EngineArgs

    from mlnb.backends.vllm_engine import VLLMBackend

    p = StageParams(
        backend="vllm", tensor_parallel_size=2, pipeline_parallel_size=2, distributed_executor_backend="ray",
        gpu_memory_utilization=0.5, max_model_len=2048, max_num_seqs=16, kv_cache_dtype="fp8", enforce_eager=False,
        load_format="dummy", seed=7, dtype="bfloat16", kv_cache_memory_bytes=1 << 28, prefix_caching=False,
    )
    kwargs = VLLMBackend.engine_kwargs(p, "some/model")
    expected = dict(
        tensor_parallel_size=2, pipeline_parallel_size=2, distributed_executor_backend="ray",
        gpu_memory_utilization=0.5, max_model_len=2048, max_num_seqs=16, kv_cache_dtype="fp8",
        enforce_eager=False, load_format="dummy", seed=7, dtype="bfloat16", kv_cache_memory_bytes=1 << 28,
        enable_prefix_caching=False,
    )
    assert {k: kwargs[k] for k in expected} == expected
    for cls in (EngineArgs, AsyncEngineArgs):  # every name is one of vLLM's engine arguments
        args = cls(**kwargs)
        assert all(getattr(args, k) == v for k, v in expected.items())


@pytest.mark.slow
def test_the_24gb_profile_resolves_to_vllm_engine_args():
    pytest.importorskip("vllm", reason="the vllm extra is not installed")
    from vllm.engine.arg_utils import EngineArgs

    from mlnb.backends.vllm_engine import VLLMBackend

    preset = load_preset(PRESETS_DIR / "vllm-24gb.yaml")
    for stage in preset.stages:
        spec = STAGES.get(stage)
        if spec.kind != "loadgen":
            continue
        p = resolve_stage_params(preset, stage, spec.defaults, [], "vllm-24gb")
        args = EngineArgs(**VLLMBackend.engine_kwargs(p, "meta-llama/Llama-3.1-8B-Instruct"))
        assert p.backend == "vllm" and args.gpu_memory_utilization == 0.90 and args.max_model_len == 4096
