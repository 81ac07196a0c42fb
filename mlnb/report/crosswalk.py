"""How mlnb's latency metrics map onto other tools' names for them (so numbers compare without guessing)."""

from __future__ import annotations

# (mlnb metric, definition, vLLM bench, AIPerf / GenAI-Perf, guidellm, MLCommons endpoints)
ROWS = (
    (
        "TTFT (LoadGen)",
        "LoadGen's scheduled time \u2192 the SUT's first token (FirstTokenComplete); includes issue delay and queueing",
        "TTFT, but from the send time (after its client semaphore); queue time apart",
        "TTFT, from the send time; first non-empty response",
        "TTFT, from request start",
        "TTFT, from query issue to the first non-empty fragment",
    ),
    (
        "TTFT (SUT timestamps)",
        "the SUT received the query \u2192 first token; this report's histograms",
        "closest to its TTFT for an in-process engine",
        "closest to its TTFT",
        "closest to its TTFT",
        "closest to its TTFT",
    ),
    (
        "TPOT",
        "(latency \u2212 TTFT) / (n_tokens \u2212 1), per query, first token excluded",
        "TPOT (same formula)",
        "ITL (same formula; ICL is its per-chunk gap)",
        "ITL (same formula); its \u201cTPOT\u201d is latency / n and includes TTFT",
        "TPOT (tokens after the first chunk)",
    ),
    (
        "Latency",
        "scheduled time \u2192 QuerySamplesComplete (the last token)",
        "E2EL, from the send time",
        "request latency, from the send time",
        "request latency",
        "latency, from issue",
    ),
    (
        "tokens / s",
        "output tokens only, LoadGen's completed tokens per second",
        "output tok/s (total tok/s adds the prompt)",
        "output token throughput",
        "output tokens/s",
        "system TPS (output)",
    ),
)

HEADER = ("mlnb", "definition here", "vLLM bench serve", "AIPerf / GenAI-Perf", "guidellm", "MLCommons endpoints")


def crosswalk_html() -> str:
    from mlnb.report.markup import macro

    return str(macro("health.html.j2", "crosswalk", HEADER, ROWS))
