"""One LoadGen test in this process: ``python -m mlnb.harness STAGE_DIR``.

LoadGen allows one test per process (a second FromConfig drops mlperf.conf), so notebooks and
the CLI start this module as a subprocess. It reads ``STAGE_DIR/params.json`` and writes:

- ``loadgen/``: user.conf and LoadGen's mlperf_log_* files
- ``queries.jsonl``: per-query SUT timestamps and token counts
- ``harness.json``: engine description, dataset facts, timings, relaxed rules, errors
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from mlnb.backends.base import get_backend
from mlnb.compliance.test06 import write_audit_config
from mlnb.config import StageParams
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids
from mlnb.fileio import write_json_atomic, write_text_atomic
from mlnb.harness.settings import build_test_settings, plan_user_conf, write_user_conf
from mlnb.harness.sut import LoadgenSUT

PROGRESS_EVERY_S = 2.0


def dataset_path(p: StageParams) -> Path:
    return Path(EMBEDDED_DATASET) if p.dataset == "embedded" else Path(p.dataset)


def is_official_dataset(path: Path, size: int) -> bool:
    return path.name in ("cnn_eval.json", "sample_cnn_eval_5000.json") and size in (13368, 5000)


def _progress(sut: LoadgenSUT, done: threading.Event, started: float) -> None:
    while not done.wait(PROGRESS_EVERY_S):
        elapsed = time.monotonic() - started
        print(
            f"progress issued={len(sut.records)} completed={sut.completed} tokens={sut.tokens} "
            f"tok/s={sut.tokens / max(elapsed, 1e-9):.1f} elapsed={elapsed:.1f}s",
            flush=True,
        )


def run_harness(stage_dir: Path) -> int:
    import mlperf_loadgen as lg

    params = StageParams.model_validate_json((stage_dir / "params.json").read_text())
    loadgen_dir = stage_dir / "loadgen"
    loadgen_dir.mkdir(parents=True, exist_ok=True)

    path = dataset_path(params)
    records = load_cnndm(path)
    full_size = len(records)
    if params.samples is not None:
        records = records[: params.samples]

    backend = get_backend(params.backend)(params)
    t_load = time.monotonic()
    backend.load()
    load_s = time.monotonic() - t_load
    prompts = prompt_token_ids(records, backend.tokenizer())
    print(f"loaded {params.backend} in {load_s:.1f}s; {len(records)} samples from {path.name}", flush=True)

    plan = plan_user_conf(params, len(records), is_official_dataset(path, full_size))
    if backend.simulated:
        plan.relaxed.append("simulated backend: no model ran")
    if params.load_format == "dummy":
        plan.relaxed.append("random weights (load_format=dummy): outputs and accuracy are meaningless")
    user_conf = write_user_conf(params, plan, loadgen_dir / "user.conf")
    settings = build_test_settings(params, user_conf)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(loadgen_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False  # the trace grows huge; per-query times come from the SUT

    sut = LoadgenSUT(
        backend, prompts.token_ids, params.scenario != "Offline", params.max_new_tokens, params.min_new_tokens
    )
    backend.start(sut)
    lg_sut = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    lg_qsl = lg.ConstructQSL(len(records), len(records), lambda _: None, lambda _: None)
    done = threading.Event()
    started = time.monotonic()
    threading.Thread(target=_progress, args=(sut, done, started), daemon=True).start()
    try:
        if params.mode == "test06":
            audit = write_audit_config(loadgen_dir)
            lg.StartTestWithLogSettings(lg_sut, lg_qsl, settings, log_settings, str(audit))
        else:
            # A path that never exists: a stray audit.config in the working directory must not
            # silently turn a benchmark run into a compliance run.
            lg.StartTestWithLogSettings(lg_sut, lg_qsl, settings, log_settings, str(loadgen_dir / "no-audit.config"))
    finally:
        done.set()
        wall_s = time.monotonic() - started
        backend.stop()
        backend.close()
        lg.DestroyQSL(lg_qsl)
        lg.DestroySUT(lg_sut)

    rows = sut.rows()
    write_text_atomic(stage_dir / "queries.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write_json_atomic(
        stage_dir / "harness.json",
        {
            "engine": backend.describe(),
            "simulated": backend.simulated,
            "dataset": {
                "path": str(path) if params.dataset != "embedded" else "embedded:cnn_eval.json",
                "records_in_file": full_size,
                "samples_used": len(records),
                "retokenized": prompts.retokenized,
                "tokenization_note": prompts.note,
            },
            "relaxed_rules": plan.relaxed,
            "user_conf_lines": plan.lines,
            "timings_s": {"load": round(load_s, 3), "loadgen_test": round(wall_s, 3)},
            "queries": len(rows),
            "sut_errors": sut.errors,
            "sut_error_examples": sorted({r["error"] for r in rows if r["error"]})[:5],
        },
    )
    print(f"finished: {sut.completed} queries, {sut.tokens} tokens in {wall_s:.1f}s, {sut.errors} SUT errors", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m mlnb.harness STAGE_DIR", file=sys.stderr)
        return 2
    return run_harness(Path(argv[0]))
