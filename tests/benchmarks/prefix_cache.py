"""Prefix caching on the vllm backend: one synthetic workload with a shared prefix, caching on and off.

    .venv/bin/python tests/benchmarks/prefix_cache.py [--records 32] [--prefix 1024] [--outputs DIR]

Runs `mlnb run` twice (01_offline_perf, the embedded model) on the same synthetic prompts: a shared
prefix of --prefix tokens, 16 own tokens each, 4 output tokens with EOS ignored. Prints LoadGen's
samples/s and tokens/s and the engine section's prefix-caching line for each, and the load average
before and after. Asserts nothing: the figures are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run(prefix_caching: bool, args, outputs: Path) -> dict:
    run_id = f"prefix_caching_{str(prefix_caching).lower()}"
    command = [
        sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--stages", "01_offline_perf",
        "--backend", "vllm", "--samples", str(args.records), "--outputs", str(outputs), "--run-id", run_id,
        "--no-progress", "--set", "workload=synthetic", "--set", f"synthetic_records={args.records}",
        "--set", "synthetic_input_tokens=16", "--set", f"synthetic_prefix_tokens={args.prefix}",
        "--set", "synthetic_output_tokens=4", "--set", "output_length=reference",
        "--set", f"min_query_count={args.records}", "--set", f"prefix_caching={str(prefix_caching).lower()}",
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((outputs / run_id / "01_offline_perf" / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=32)
    parser.add_argument("--prefix", type=int, default=1024)
    parser.add_argument("--outputs", type=Path, default=None)
    args = parser.parse_args()
    outputs = args.outputs or Path(tempfile.mkdtemp(prefix="mlnb-prefix-cache-"))
    print(f"load average before: {os.getloadavg()}")
    for caching in (True, False):
        s = run(caching, args, outputs)
        m = s["metrics"]
        print(f"prefix_caching={caching}: {m['samples_per_second']:.2f} samples/s, {m['tokens_per_second']:.1f} tokens/s, "
              f"prompt tokens {s['sut']['prompt_tokens']['mean']:.0f}; engine: {s['engine'].get('prefix_caching')}")
    print(f"load average after: {os.getloadavg()}")
    print(f"runs: {outputs}")


if __name__ == "__main__":
    main()
