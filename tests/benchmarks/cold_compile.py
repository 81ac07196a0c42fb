"""The static path's compile + graph capture with empty caches, per scenario, against the 60 s target.

    python tests/benchmarks/cold_compile.py --tokenizer TOKENIZER_DIR           # on a CUDA machine
    python tests/benchmarks/cold_compile.py --scenarios Server --scopes layers,step
    python tests/benchmarks/cold_compile.py --tiny                                # a CPU self-check

Each (compile scope, scenario) loads the hf backend (Llama-3.1-8B's architecture, random weights) in a
process of its own, with new, empty TORCHINDUCTOR_CACHE_DIR and TRITON_CACHE_DIR folders: what a user's
first stage on a new machine pays. A warm cache (a later stage of the same run) takes a few seconds and
would make the target look met. Printed per row: the load's compile + capture seconds (the backend's
``compile_seconds``: cache allocation, compile, one graph per batch size), the seconds of each batch size
(the first includes the compile), the step mode and any fallback.

Scopes (``StaticDecoder.compile_scope``): ``layers`` compiles one decoder layer and reuses it for all;
``step`` compiles the whole decode step as one graph.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_S = 60.0
SCOPES = ("layers", "step")


def child(args) -> None:
    """Load one backend and print its static facts as one JSON line."""
    import gpu_targets

    from mlnb.backends.static_decode import StaticDecoder

    StaticDecoder.compile_scope = args.child_scope
    params = gpu_targets.params_for(args, args.child)
    backend, load_s = gpu_targets.load_backend(params)
    facts = dict(backend.static_facts)
    facts.update(load_s=round(load_s, 1))
    print("RESULT " + json.dumps(facts, default=str), flush=True)


def run_one(args, scenario: str, scope: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="cold-compile-") as empty:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=f"{empty}/inductor", TRITON_CACHE_DIR=f"{empty}/triton")
        command = [sys.executable, __file__, "--child", scenario, "--child-scope", scope, *args.passthrough]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)[:300]}"}
    return json.loads(lines[-1][len("RESULT "):])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="Offline,Server,SingleStream")
    ap.add_argument("--scopes", default="layers", help=f"comma list of {', '.join(SCOPES)}")
    ap.add_argument("--tiny", action="store_true", help="tiny config on the CPU: checks the script, compiles nothing")
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-scope", default="layers", help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args(argv)

    import gpu_targets

    args.model = args.model or gpu_targets.LLAMA
    args.device, args.dtype = ("cpu", "auto") if args.tiny else ("auto", "auto")
    args.samples, args.max_new_tokens, args.max_batch = (8, 16, 4) if args.tiny else (64, 128, 256)
    if args.child:
        if args.tiny:
            args.model = gpu_targets.tiny_model_folder()
        child(args)
        return 0
    args.passthrough = (["--tiny"] if args.tiny else []) + (["--tokenizer", args.tokenizer] if args.tokenizer else [])
    results = []
    print(f"{'scope':7} {'scenario':13} {'compile + capture':>18}  {'target':>7}  per batch size (s)", flush=True)
    for scope in args.scopes.split(","):
        if scope not in SCOPES:
            raise SystemExit(f"--scopes: unknown scope {scope!r} (choose from {', '.join(SCOPES)})")
        for scenario in args.scenarios.split(","):
            facts = run_one(args, scenario, scope)
            results.append({"scope": scope, "scenario": scenario, **facts})
            if "error" in facts:
                print(f"{scope:7} {scenario:13} FAILED {facts['error']}", flush=True)
                continue
            seconds = facts["compile_seconds"]
            verdict = "no target (nothing compiled)" if not facts.get("cuda_graphs") else (
                "met" if seconds <= TARGET_S else "NOT met")
            sizes = ", ".join(f"{size}: {s}" for size, s in facts.get("record_seconds", {}).items())
            print(f"{scope:7} {scenario:13} {seconds:>16.1f} s  {verdict:>7}  {sizes}; step {facts.get('step')}"
                  + (f"; fallbacks {facts['fallbacks']}" if facts.get("fallbacks") else ""), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
