"""vLLM engine and sampling settings from stage parameters, shared by the backend and its benchmark.

Only this module and ``vllm_engine`` import vLLM, and only inside functions: the package is an
optional extra (``pip install -e ".[vllm]"``) and the rest of mlnb works without it.
"""

from __future__ import annotations

import os
from typing import Any

from mlnb.errors import InputError

CPU_DEFAULT_KV_CACHE_BYTES = 1 << 30  # 1 GiB: ~46k tokens of SmolLM2-135M, far more than a CPU run needs


def import_vllm():
    """Import vLLM with a clear error when the extra is missing."""
    # vLLM logs every engine step's set-up at INFO; the harness log only needs warnings.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    try:
        import vllm
    except ImportError as err:
        raise InputError(
            "backend 'vllm'", f'vLLM is not installed ({err}); run `pip install -e ".[vllm]"` or `make test`'
        ) from None
    return vllm


def on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def sampling_params(max_new_tokens: int, min_new_tokens: int, streaming: bool, ignore_eos: bool = False):
    """MLPerf's Llama settings: greedy, max_tokens=128, min_tokens=1 (the reference's top_k=1 at
    temperature 0 is the same greedy choice). Token ids only: the harness never needs text.
    ``ignore_eos``: run to max_tokens (reference output lengths), as the other backends do."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(
        temperature=0.0,
        max_tokens=max_new_tokens,
        min_tokens=min_new_tokens,
        ignore_eos=ignore_eos,
        detokenize=False,
        output_kind=RequestOutputKind.DELTA if streaming else RequestOutputKind.FINAL_ONLY,
    )


def tokens_prompt(prompt_ids) -> Any:
    from vllm.inputs import TokensPrompt

    return TokensPrompt(prompt_token_ids=[int(t) for t in prompt_ids])


def failure_reason(output) -> str | None:
    """Why a finished vLLM output is not a valid answer, or None when it is."""
    completion = output.outputs[0] if output.outputs else None
    if completion is None:
        return "engine returned no completion"
    if completion.finish_reason not in ("stop", "length"):
        return f"engine ended the request with finish_reason={completion.finish_reason!r}"
    return None
