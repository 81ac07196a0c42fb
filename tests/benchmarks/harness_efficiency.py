"""Offline harness efficiency: does LoadGen + the SUT wrapper cost throughput?

    python tests/benchmarks/harness_efficiency.py [--backend hf] [--samples 32] [--batch-size 8] [--telemetry both]

1. Direct: load the backend, submit the same prompts with no LoadGen, and time from submit
   to the last completion (tokens/s).
2. Through LoadGen: the same backend and prompts in an Offline performance test run by the
   real harness subprocess; tokens/s as LoadGen reports it (token count / last completion).

Efficiency = LoadGen tokens/s / direct tokens/s (target: at least 0.95). The two are measured
alternately, repeated, and the medians compared, because a 2-core machine is noisy.

``--telemetry both`` adds a third side: the harness with the telemetry sampler off (``telemetry=False``),
interleaved with the others; the cost of telemetry is 1 - on/off (target: under 1 %). The spread of
each side's repeats and the load average are printed beside it: a cost below the spread is noise.
The paired costs (each on run against the off run beside it) and the standard deviation of their mean
say how well the cost is pinned down.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

from mlnb.backends.base import Request
from mlnb.backends.registry import get_backend
from mlnb.config import StageParams
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids
from mlnb.stages.loadgen_stage import run_stage


class _CountingSink:
    def __init__(self, expected: int):
        self.expected = expected
        self.tokens = 0
        self.done = 0
        self.finished = threading.Event()

    def first_token(self, request, token_ids) -> None:
        pass

    def complete(self, request, token_ids, error=None) -> None:
        self.tokens += len(token_ids)
        self.done += 1
        if self.done == self.expected:
            self.finished.set()


def backend_tokens_per_second(backend, prompts, max_new_tokens: int, min_new_tokens: int) -> float:
    """The backend without LoadGen: every prompt submitted at once, timed to the last completion."""
    sink = _CountingSink(len(prompts))
    backend.start(sink)
    started = time.monotonic()
    backend.submit([Request(i, i, p, False, max_new_tokens, min_new_tokens) for i, p in enumerate(prompts)])
    sink.finished.wait()
    elapsed = time.monotonic() - started
    backend.stop()
    return sink.tokens / elapsed


def direct_tokens_per_second(backend, params: StageParams) -> float:
    prompts = prompt_token_ids(load_cnndm(EMBEDDED_DATASET)[: params.samples], backend.tokenizer()).token_ids
    return backend_tokens_per_second(backend, prompts, params.max_new_tokens, params.min_new_tokens)


def loadgen_tokens_per_second(params: StageParams, run_dir: str, index: int, telemetry: bool = True) -> float:
    p = params.model_copy(update={"run_dir": run_dir, "stage": f"offline_{index}_{'on' if telemetry else 'off'}",
                                  "telemetry": telemetry})
    return run_stage(p).metrics["tokens_per_second"]


def _spread(values: list[float]) -> str:
    return f"spread {(max(values) - min(values)) / statistics.median(values):.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="hf")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--load-format", default="auto", choices=["auto", "dummy"])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--telemetry", default="on", choices=["on", "off", "both"],
                        help="the harness's telemetry sampler; both: also measure it off and print its cost")
    args = parser.parse_args()
    params = StageParams(
        stage="bench",
        scenario="Offline",
        backend=args.backend,
        model=args.model,
        load_format=args.load_format,
        samples=args.samples,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        min_query_count=args.samples,
        min_duration_ms=0,
    )
    backend = get_backend(params.backend)(params)
    backend.load()
    direct, through, without = [], [], []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # interleaved, so a noisy neighbour hits every side alike
            direct.append(direct_tokens_per_second(backend, params))
            through.append(loadgen_tokens_per_second(params, tmp, i, telemetry=args.telemetry != "off"))
            if args.telemetry == "both":
                without.append(loadgen_tokens_per_second(params, tmp, i, telemetry=False))
    d, t = statistics.median(direct), statistics.median(through)
    print(f"backend={args.backend} model={args.model} load_format={args.load_format} samples={args.samples} batch_size={args.batch_size} max_new_tokens={args.max_new_tokens}")
    print(f"direct   tokens/s: {', '.join(f'{x:.1f}' for x in direct)}  median {d:.1f}")
    print(f"LoadGen  tokens/s: {', '.join(f'{x:.1f}' for x in through)}  median {t:.1f}")
    print(f"efficiency (LoadGen / direct): {t / d:.3f}  target >= 0.95")
    if without:
        w = statistics.median(without)
        print(f"telemetry on  tokens/s: {', '.join(f'{x:.1f}' for x in through)}  median {t:.1f}  {_spread(through)}")
        print(f"telemetry off tokens/s: {', '.join(f'{x:.1f}' for x in without)}  median {w:.1f}  {_spread(without)}")
        print(f"telemetry cost (1 - on/off): {1 - t / w:+.2%}  target < 1 %")
        # Each on run sits next to its off run, so a drift of the machine hits both: the paired costs.
        paired = [1 - on / off for on, off in zip(through, without)]
        print(f"paired cost per repeat: {', '.join(f'{c:+.1%}' for c in paired)}  median {statistics.median(paired):+.2%}  "
              f"mean {statistics.mean(paired):+.2%}" + (f"  sd of the mean {statistics.stdev(paired) / len(paired) ** 0.5:.2%}"
                                                        if len(paired) > 1 else ""))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min; {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
