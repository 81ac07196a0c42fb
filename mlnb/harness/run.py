"""One LoadGen test in this process: ``python -m mlnb.harness STAGE_DIR``.

LoadGen allows one test per process (a second FromConfig drops mlperf.conf), so notebooks and
the CLI start this module as a subprocess. It reads ``STAGE_DIR/params.json`` and writes:

- ``loadgen/``: user.conf and LoadGen's mlperf_log_* files
- ``queries.jsonl``: per-query SUT timestamps and token counts, in completion order (rows are
  appended to ``queries.partial.jsonl`` as queries complete, then merged with LoadGen's trace)
- ``harness.json``: engine description, dataset facts, timings, relaxed rules, errors
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from mlnb.compliance.test06 import write_audit_config
from mlnb.config import StageParams
from mlnb.data.output_lengths import OutputLengths, plan_output_lengths
from mlnb.data.token_ids import check_prompts_vocab, model_vocab_size
from mlnb.errors import InputError
from mlnb.fileio import write_json_atomic
from mlnb.harness.faults import end_on_thread_faults, stage_declared_failed
from mlnb.harness.generated import generated_samples
from mlnb.harness.loadgen_trace import TRACE_FILE, compress_if_large, merge_trace_file
from mlnb.harness.replicas import make_backend
from mlnb.harness.settings import build_test_settings, plan_user_conf, write_user_conf
from mlnb.harness.sut import LoadgenSUT
from mlnb.models.tokenizer_at_hand import required_tokenizer, tokenizer_at_hand
from mlnb.query_table import load_query_table
from mlnb.telemetry.stage import finish_for_stage, start_for_stage
from mlnb.workloads import dataset_path, load_records, workload_for

PROGRESS_EVERY_S = 2.0
# Rows are appended here as queries complete, then merged with LoadGen's trace into queries.jsonl.
ROWS_IN_PROGRESS = "queries.partial.jsonl"


def _progress(sut: LoadgenSUT, done: threading.Event, started: float, loadgen_dir: Path) -> None:
    total = None  # the samples LoadGen will issue, once its detail log says (mlnb.harness.generated)
    while not done.wait(PROGRESS_EVERY_S):
        elapsed = time.monotonic() - started
        if total is None:
            total = generated_samples(loadgen_dir)
        print(
            f"progress issued={sut.issued} completed={sut.completed} tokens={sut.tokens} "
            f"tok/s={sut.tokens / max(elapsed, 1e-9):.1f} elapsed={elapsed:.1f}s" + (f" total={total}" if total else ""),
            flush=True,
        )


def _output_lengths(params: StageParams, records, backend) -> OutputLengths:
    tokenizer = None
    if params.effective_output_length == "reference" and not backend.simulated:
        tokenizer = backend.tokenizer() or tokenizer_at_hand(params).tokenizer
    return plan_output_lengths(
        params.effective_output_length, records, params.max_new_tokens, params.min_new_tokens, tokenizer
    )


def _model_vocab_size(params: StageParams) -> int | None:
    from mlnb.models.embedded import resolve_model

    try:
        return model_vocab_size(resolve_model(params.model, prepare=False))
    except InputError:
        return None


def requested_vs_produced(records, lengths: OutputLengths, max_new_tokens: int, rows) -> dict:
    """Output tokens asked for against produced, where records carry their own budgets (custom, synthetic).

    ``rows``: the stage's query rows (a table or dicts), read as columns: a stage may hold 10^6 queries.
    """
    import numpy as np
    import pandas as pd

    from mlnb.query_table import as_table, column, text_column
    from mlnb.results import describe

    if not any("max_tokens" in r for r in records):
        return {}
    asked_per_sample = np.asarray(
        lengths.limits or [min(r.get("max_tokens") or max_new_tokens, max_new_tokens) for r in records], dtype=float
    )
    table = as_table(rows)
    if not len(table):
        return {}
    ok = ~np.isnan(column(table, "done_ms")) & pd.isna(text_column(table, "error"))
    asked = asked_per_sample[column(table, "sample_index")[ok].astype(int)]
    produced = column(table, "output_tokens")[ok]
    return {"output_lengths": {
        "stop": "ignore EOS, stop at the requested length" if lengths.ignore_eos else "EOS or the requested length",
        "requested": describe(asked),
        "produced": describe(produced),
        "queries": int(ok.sum()),
        "at_requested": int((produced == asked).sum()),
        "shorter": int((produced < asked).sum()),
        "longer": int((produced > asked).sum()),
    }}


def run_harness(stage_dir: Path) -> int:
    import mlperf_loadgen as lg

    end_on_thread_faults(stage_dir)
    params = StageParams.model_validate_json((stage_dir / "params.json").read_text())
    loadgen_dir = stage_dir / "loadgen"
    loadgen_dir.mkdir(parents=True, exist_ok=True)

    workload = workload_for(params)
    path = dataset_path(params)
    records = load_records(params)
    load_facts = dict(getattr(records, "facts", {}))  # custom/synthetic: tokenization, context, dropped records
    full_size = len(records) + load_facts.get("dropped_too_long", 0)
    if params.samples is not None:
        records = records[: params.samples]

    backend = make_backend(params)  # the engine, or one replica of it per device
    t_load = time.monotonic()
    backend.load()
    load_s = time.monotonic() - t_load
    tokenizer = backend.tokenizer()
    if tokenizer is None and workload.needs_tokenizer:
        tokenizer = required_tokenizer(params)
    prompts = workload.prompts(records, tokenizer)
    if not backend.simulated:  # an id the model cannot embed fails here, with one line, not mid-test
        check_prompts_vocab(str(path), prompts.token_ids, _model_vocab_size(params))
    backend.check_prompts(prompts.token_ids)
    print(f"loaded {params.backend} in {load_s:.1f}s; {len(records)} samples from {path.name}", flush=True)
    if load_facts.get("dropped_too_long"):
        print(f"dropped {load_facts['dropped_too_long']} records longer than the context of {load_facts['context_tokens']} tokens", flush=True)

    plan = plan_user_conf(params, len(records), workload.is_official(path, full_size), workload.dataset_title)
    if backend.simulated:
        plan.relaxed.append("simulated backend: no model ran")
    if params.load_format == "dummy":
        plan.relaxed.append("random weights (load_format=dummy): outputs and accuracy are meaningless")
    if params.profile and params.backend == "hf":
        plan.relaxed.append("profile=true: the profiler slowed the first batches")
    user_conf = write_user_conf(params, plan, loadgen_dir / "user.conf")
    settings = build_test_settings(params, user_conf)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(loadgen_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    # The trace gives each query's scheduled time and LoadGen latency (merged into queries.jsonl
    # below, for the load-generator health section); large traces are gzipped afterwards.
    log_settings.enable_trace = True

    lengths = _output_lengths(params, records, backend)
    print(f"output lengths: {lengths.note}", flush=True)
    sut = LoadgenSUT(
        backend, prompts.token_ids, params.scenario != "Offline", params.max_new_tokens, params.min_new_tokens,
        max_new_per_sample=lengths.limits, ignore_eos=lengths.ignore_eos,
        rows_path=stage_dir / ROWS_IN_PROGRESS,
    )
    backend.start(sut)
    lg_sut = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    lg_qsl = lg.ConstructQSL(len(records), len(records), lambda _: None, lambda _: None)
    done = threading.Event()
    started = time.monotonic()
    threading.Thread(target=_progress, args=(sut, done, started, loadgen_dir), daemon=True).start()
    telemetry = start_for_stage(params, stage_dir)
    sut.publish = getattr(telemetry, "publish", None)  # the sampler process reads the counters from shared memory
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
        sut.publish = None  # the counters close with the sampler; nothing may write them after this
        if telemetry is not None:
            telemetry.stop()
        backend.stop()
        backend.close()
        lg.DestroyQSL(lg_qsl)
        lg.DestroySUT(lg_sut)

    if stage_declared_failed(stage_dir):  # the pipeline gave up on this stage: leave its folder as it is
        print("the stage was declared failed; results not written", flush=True)
        return 1
    sut.finish_rows()
    query_count, trace_note = merge_trace_file(stage_dir / ROWS_IN_PROGRESS, loadgen_dir / TRACE_FILE, stage_dir / "queries.jsonl")
    (stage_dir / ROWS_IN_PROGRESS).unlink()
    compress_if_large(loadgen_dir / TRACE_FILE)
    write_json_atomic(
        stage_dir / "harness.json",
        {
            "engine": backend.describe(),
            "simulated": backend.simulated,
            "dataset": {
                "path": str(path) if params.dataset != "embedded" or workload.load_params else workload.embedded_label,
                "workload": workload.name,
                "records_in_file": full_size,
                "samples_used": len(records),
                "retokenized": prompts.retokenized,
                "tokenization_note": prompts.note,
                "output_length": params.effective_output_length,
                "output_length_note": lengths.note,
                **{k: v for k, v in load_facts.items() if k != "tokenization_note"},
                **requested_vs_produced(records, lengths, params.max_new_tokens, load_query_table(stage_dir)),
            },
            "relaxed_rules": plan.relaxed,
            "user_conf_lines": plan.lines,
            "timings_s": {"load": round(load_s, 3), "loadgen_test": round(wall_s, 3)},
            "queries": query_count,
            "loadgen_trace": trace_note,
            "sut_errors": sut.errors,
            "sut_error_examples": sut.error_examples(),
            "telemetry": finish_for_stage(telemetry, stage_dir, sut.origin_s, wall_s),
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
