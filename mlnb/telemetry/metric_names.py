"""Prometheus series mlnb reads from inference servers, under every name the engines use.

vLLM names are those of the vLLM release mlnb installs (0.32: ``vllm/v1/metrics/loggers.py``) and
their earlier spellings (``gpu_cache_usage_perc``, ``gpu_prefix_cache_*``, ``time_per_output_token``).
SGLang's are from its "Production Metrics" page, TGI's from its "Metrics" reference; TGI publishes
no KV-cache usage, prefix-cache or preemption series, so those stay empty for it.
"""

from __future__ import annotations

# canonical name -> names tried in order (the first present wins); gauges and counters.
# A counter's "_total" sample is matched too (the parser strips it from the family name only).
SERVER_SERIES: dict[str, tuple[str, ...]] = {
    "running": ("vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size"),
    "waiting": ("vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size"),
    # a fraction 0..1 in vLLM and SGLang
    "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"),
    # prefix-cache counters count tokens (queried and found in the cache)
    "prefix_cache_queries": ("vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries"),
    "prefix_cache_hits": ("vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits"),
    "preemptions": ("vllm:num_preemptions",),
    "generation_tokens": ("vllm:generation_tokens", "sglang:generation_tokens"),
}

# gauges that are fractions or levels: several label sets (engines, ranks) combine by max, not sum
LEVEL_SERIES = ("kv_cache_usage",)

# the server's own latency histograms (seconds)
SERVER_HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "ttft_s": ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"),
    "tpot_s": (
        "vllm:request_time_per_output_token_seconds",
        "vllm:time_per_output_token_seconds",
        "sglang:time_per_output_token_seconds",
    ),
    "itl_s": ("vllm:inter_token_latency_seconds", "sglang:inter_token_latency_seconds"),
    "e2e_s": ("vllm:e2e_request_latency_seconds", "sglang:e2e_request_latency_seconds", "tgi_request_duration"),
}

COUNTER_SERIES = ("prefix_cache_queries", "prefix_cache_hits", "preemptions", "generation_tokens")
