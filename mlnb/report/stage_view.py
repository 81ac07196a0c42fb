"""One stage's results, shown in its notebook: what nbconvert turns into the shared HTML report.

:func:`show_stage` displays, in order: banners (simulated, verdict with every reason, not
submittable), LoadGen's key metrics and percentiles, per-query latency plots from the SUT's
timestamps, the throughput timeline, the accuracy section (accuracy mode), and collapsible
engine / environment / parameter tables.

This module gathers the data; the markup is in templates/stage.html.j2 (and the shared
macros.html.j2), rendered with autoescaping, so every piece of text that comes from a file (model
output above all) is inert. Plain HTML with inline CSS, scoped under ``.mlnb`` so it neither
depends on nor disturbs the notebook's own styles; no script, no external resource.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from mlnb.fileio import read_json
from mlnb.report import plots
from mlnb.report.markup import (  # re-exported: notebooks and the widgets import them from here
    CSS,
    Markup,
    Part,
    display_parts,
    esc,
    fmt_value,
    macro,
    plural,
    png_img_html,
    simulated_tag,
    style_tag,
    verdict_pill,
    wrap,
)
from mlnb.report.stage_sections import (
    details_section_html,
    header_html,
    params_html,
    simulated_banner_html,
    submittable_note_html,
    verdict_banner_html,
)
from mlnb.report.plots import key_metrics, latency_limits, stat_percentile, summary_dict
from mlnb.report.telemetry_view import telemetry_parts

__all__ = [
    "CSS",
    "Part",
    "display_parts",
    "esc",
    "failure_html",
    "fmt_value",
    "key_cards",
    "params_html",
    "plural",
    "png_img_html",
    "show_params",
    "show_stage",
    "simulated_tag",
    "stage_html",
    "stage_parts",
    "style_tag",
    "verdict_html",
    "verdict_pill",
]

_MAX_EXAMPLE_CHARS = 1500


def _section(name: str, *args: Any, **kwargs: Any) -> str:
    return str(macro("stage.html.j2", name, *args, **kwargs))


def failure_html(failure: Mapping[str, Any], stage: Optional[str] = None) -> str:
    """A red banner for a stage that stopped with an error (failure.json)."""
    evalue = str(failure.get("evalue") or "")
    if len(evalue) > 3000:
        evalue = evalue[:3000] + " \u2026 (truncated)"
    return _section("failure", stage or failure.get("stage") or "stage", failure.get("cell_index"), failure.get("ename") or "error", evalue)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _load(summary_or_stage_dir: Any, rows: Optional[Sequence[Mapping]]):
    """-> (summary dict or None, failure dict or None, query table, stage dir or None)."""
    from mlnb.query_table import as_table, load_query_table

    stage_dir: Optional[Path] = None
    summary: Optional[dict] = None
    failure: Optional[dict] = None
    if isinstance(summary_or_stage_dir, (str, Path)):
        path = Path(summary_or_stage_dir)
        stage_dir = path.parent if path.is_file() else path
        summary_path = path if path.is_file() else path / "summary.json"
        if summary_path.is_file():
            summary = read_json(summary_path)
        elif (stage_dir / "failure.json").is_file():
            failure = read_json(stage_dir / "failure.json")
        else:
            raise FileNotFoundError(f"{path}: no summary.json or failure.json (has the stage run?)")
    else:
        summary = summary_dict(summary_or_stage_dir)
        params = summary.get("params") or {}
        if params.get("run_dir") and summary.get("stage"):
            candidate = Path(params["run_dir"]) / str(summary["stage"])
            stage_dir = candidate if candidate.is_dir() else None
    if rows is None:
        return summary, failure, load_query_table(stage_dir) if stage_dir is not None else as_table(None), stage_dir
    return summary, failure, as_table(rows), stage_dir


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def key_cards(s: Mapping[str, Any]) -> list[tuple[str, Optional[float]]]:
    """(label, value) of the key-metric cards, the scenario's MLPerf metric first.

    SingleStream's result is its 90th-percentile latency (samples/s there is only 1 / mean latency);
    Offline and Server report throughput.
    """
    m = key_metrics(s)
    queries = int(m["query_count"]) if m["query_count"] is not None else None
    cards: list[tuple[str, Optional[float]]] = []
    if s.get("scenario") == "SingleStream":
        cards.append(("p90 latency, ms (SingleStream's metric)", m["latency_p90_ms"]))
    per_query = int(m["samples_per_query"]) if m["samples_per_query"] is not None else None
    cards += [
        ("samples / s", m["samples_per_second"]),
        ("tokens / s", m["tokens_per_second"]),
        ("query" if queries == 1 else "queries", queries),
    ]
    if per_query is not None:  # Offline: "1 query" alone reads as if one sample ran
        cards.append(("samples per query", per_query))
    if m["rouge1"] is not None:
        cards.append(("ROUGE-1", m["rouge1"]))
    return cards


def _key_metrics(s: Mapping[str, Any]) -> str:
    m = key_metrics(s)
    limits = latency_limits(s)
    rows = []
    for name, prefix, limit in (
        ("Time to first token (TTFT)", "ttft", limits.get("ttft_ms")),
        ("Time per output token (TPOT)", "tpot", limits.get("tpot_ms")),
        ("End-to-end latency", "latency", None),
    ):
        p50, p90, p99 = m[f"{prefix}_p50_ms"], m[f"{prefix}_p90_ms"], m[f"{prefix}_p99_ms"]
        if p50 is None and p90 is None and p99 is None:
            continue
        within = p99 <= limit if limit is not None and p99 is not None else None
        check = macro("stage.html.j2", "within_limit", within, p99 / limit if within is not None else None)
        rows.append([name, *(_fmt(v) for v in (p50, p90, p99, limit)), check])
    return _section("key_metrics", key_cards(s), rows)


def _fmt(value: Any, digits: Optional[int] = None) -> Markup:
    """A formatted number for a template cell (fmt_value escapes any text it is given)."""
    return Markup(fmt_value(value, digits))


def _percentile_table(s: Mapping[str, Any]) -> str:
    metrics = s.get("metrics") or {}
    series = [("TTFT", metrics.get("ttft_ms")), ("TPOT", metrics.get("tpot_ms")), ("Latency", metrics.get("latency_ms"))]
    series = [(name, st) for name, st in series if isinstance(st, Mapping)]
    if not series:
        return ""
    keys: list[str] = []
    for _, stats in series:
        for key in (stats.get("percentiles") or {}):
            if key not in keys:
                keys.append(key)

    def order(key: str) -> float:
        try:
            return float(str(key).lstrip("p"))
        except ValueError:
            return math.inf

    keys.sort(key=order)
    header = ["ms", "min", "mean"] + [f"p{str(k).lstrip('p').removesuffix('.0')}" for k in keys] + ["max"]
    rows = []
    for name, stats in series:
        row = [name, _fmt(plots.number(stats.get("min"))), _fmt(plots.number(stats.get("mean")))]
        row += [_fmt(stat_percentile(stats, order(k))) if order(k) != math.inf else "\u2014" for k in keys]
        row += [_fmt(plots.number(stats.get("max")))]
        rows.append(row)
    return _section("percentiles", header, rows)


def _loadgen_messages(s: Mapping[str, Any]) -> str:
    lg = s.get("loadgen") or {}
    if not isinstance(lg, Mapping):
        return ""
    early = lg.get("early_stopping") or {}
    errors, warnings = lg.get("errors") or [], lg.get("warnings") or []
    sut = s.get("sut") or {}
    sut = sut if isinstance(sut, Mapping) else {}
    return _section(
        "loadgen_messages",
        early=list(early.items()) if isinstance(early, Mapping) else [],
        errors=errors[:20], errors_more=max(0, len(errors) - 20),
        warnings=warnings[:20], warnings_more=max(0, len(warnings) - 20),
        sut_errors=sut.get("errors"), sut_examples=(sut.get("error_examples") or [])[:5],
    )


def _sut_table(s: Mapping[str, Any]) -> str:
    sut = s.get("sut") or {}
    if not isinstance(sut, Mapping):
        return ""
    stats = ("count", "mean", "p50", "p90", "p99", "max")
    rows = []
    for key, label in (("ttft_ms", "TTFT, ms"), ("tpot_ms", "TPOT, ms"), ("e2e_ms", "End-to-end, ms"), ("output_tokens", "Output tokens"), ("prompt_tokens", "Prompt tokens")):
        d = sut.get(key)
        if isinstance(d, Mapping):
            rows.append([label] + [_fmt(d.get(k)) for k in stats])
    client = sut.get("client")  # network backends: TTFT from the query's arrival and from the send
    if isinstance(client, Mapping):
        for key, label in (("ttft_from_issue_ms", "TTFT from arrival at the SUT, ms"), ("ttft_from_send_ms", "TTFT from the send, ms"), ("send_delay_ms", "Client send delay, ms")):
            d = client.get(key)
            if isinstance(d, Mapping):
                rows.append([label] + [_fmt(d.get(k)) for k in stats])
    if not rows:
        return ""
    return str(macro("macros.html.j2", "table", ["SUT timestamps", *stats], rows, (1, 2, 3, 4, 5, 6)))


ORIGIN_GAP_SHARE = 0.2  # LoadGen's and the SUT's p50 further apart than this share of LoadGen's: say why
ORIGIN_GAP_MIN_MS = 1.0


def origin_gap_note(s: Mapping[str, Any]) -> str:
    """A note when LoadGen's p50 (from the scheduled time) and the SUT's (from receipt) differ a lot, saying why."""
    metrics, sut = s.get("metrics") or {}, s.get("sut") or {}
    if not isinstance(sut, Mapping):
        return ""
    gaps = []
    for name, loadgen_key, sut_key in (("TTFT", "ttft_ms", "ttft_ms"), ("end-to-end latency", "latency_ms", "e2e_ms")):
        loadgen = stat_percentile(metrics.get(loadgen_key), 50)
        mine = sut.get(sut_key) if isinstance(sut.get(sut_key), Mapping) else {}
        own = plots.number(mine.get("p50"))
        if loadgen is None or own is None or loadgen <= 0:
            continue
        if abs(loadgen - own) >= max(ORIGIN_GAP_MIN_MS, ORIGIN_GAP_SHARE * loadgen):
            gaps.append((name, loadgen, own, int(mine.get("count") or 0)))
    if not gaps:
        return ""
    few = min(n for *_, n in gaps)
    return _section("origin_gap", [(name, lg, own, (own - lg) / lg) for name, lg, own, _ in gaps], few if 0 < few < 100 else None)


def _accuracy(s: Mapping[str, Any], max_examples: int) -> str:
    acc = s.get("accuracy")
    if not isinstance(acc, Mapping) or not acc:
        return ""
    if acc.get("metric_family") == "task_type":  # the custom and synthetic workloads
        from mlnb.report.custom_view import per_task_type_html

        return per_task_type_html(acc) + _examples(acc, max_examples)
    exact = acc.get("metric_family") == "exact_match"  # the DeepSeek-R1 workload
    targets = [t for t in (acc.get("targets") or []) if isinstance(t, Mapping)]
    target_rows = []
    for t in targets:
        metric = str(t.get("metric"))
        lower, upper, ref = plots.number(t.get("lower")), plots.number(t.get("upper")), plots.number(t.get("reference"))
        digits = 0 if metric in ("gen_len", "gen_num", "num-samples") else 4
        if upper is None:
            need = f"\u2265 {fmt_value(lower, digits)}"
        elif lower == upper:
            need = f"= {fmt_value(lower, digits)}"
        else:
            need = f"{fmt_value(lower, digits)} \u2013 {fmt_value(upper, digits)}"
        target_rows.append([
            macro("macros.html.j2", "code", metric), _fmt(plots.number(t.get("value")), digits), _fmt(ref, digits), need,
            macro("stage.html.j2", "scope", t.get("scope") or "full dataset", t.get("note")),
            macro("stage.html.j2", "pass_fail", bool(t.get("passed"))),
        ])
    scaled = any(str(t.get("scope") or "").startswith("scaled") for t in targets)
    plain_rows = [[macro("macros.html.j2", "code", k), _fmt(plots.number(acc.get(k)), 4)] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum") if k in acc]
    plain_rows += [[macro("macros.html.j2", "code", k), _fmt(acc.get(k))] for k in ("gen_len", "gen_num") if k in acc]
    facts = [(label, acc.get(key)) for key, label in (("benchmark", "targets for"), ("splitter", "sentence splitter"), ("gen_num", "samples scored"), ("gen_tok_len", "generated tokens")) if acc.get(key) is not None]
    per_dataset = ""
    if exact:
        from mlnb.report.dsr1_view import per_dataset_html

        per_dataset = per_dataset_html(acc)
    return _section("accuracy", exact, target_rows, scaled, plain_rows, facts, acc.get("targets_note"),
                    Markup(per_dataset), Markup(_examples(acc, max_examples)))


_SAMPLE_LISTS = ("per_sample", "samples", "examples")
_PREDICTION_KEYS = ("prediction", "pred", "output", "generated", "text")
_REFERENCE_KEYS = ("reference", "target", "ref", "expected", "label")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_EXAMPLE_CHARS else text[:_MAX_EXAMPLE_CHARS] + " \u2026 (truncated)"


def _examples(acc: Mapping[str, Any], max_examples: int) -> str:
    samples = next((acc[k] for k in _SAMPLE_LISTS if isinstance(acc.get(k), list) and acc.get(k)), None)
    if not samples or max_examples <= 0:
        return ""
    shown = samples[:max_examples]
    items = []
    for i, sample in enumerate(shown):
        if not isinstance(sample, Mapping):
            items.append({"head": f"Example {i + 1}", "bare": True, "text": _clip(str(sample))})
            continue
        pred = next((sample[k] for k in _PREDICTION_KEYS if sample.get(k) is not None), None)
        ref = next((sample[k] for k in _REFERENCE_KEYS if sample.get(k) is not None), None)
        bits = []
        for key, label in (("qsl_idx", "sample"), ("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L"), ("n_tokens", "tokens"), ("dataset", "dataset"), ("score", "score"), ("extracted", "extracted"), ("reason", "why")):
            if sample.get(key) is not None:
                value = sample[key]
                bits.append(f"{label} {value if isinstance(value, str) else fmt_value(value)}")
        items.append({
            "head": " \u00b7 ".join(bits) or f"Example {i + 1}",
            "bare": False,
            "prediction": _clip(str(pred)) if pred is not None else None,
            "reference": _clip(str(ref)) if ref is not None else None,
        })
    return _section("examples", items, len(samples))


# ---------------------------------------------------------------------------------------------
# Public
# ---------------------------------------------------------------------------------------------


# The sections a notebook can show in cells of its own and leave out of the stage view (``exclude``).
SECTIONS = ("verdict", "key_metrics", "latency_charts", "throughput")


def stage_parts(
    summary_or_stage_dir: Any,
    rows: Optional[Sequence[Mapping]] = None,
    max_examples: int = 3,
    exclude: Iterable[str] = (),
) -> list[Part]:
    """The stage view as a list of ``("html", str)`` and ``("png", bytes, alt)`` parts.

    ``exclude``: names from :data:`SECTIONS` to leave out (the header and banners, the key metrics,
    the per-query latency charts, the throughput chart), for a notebook that shows them itself.
    """
    exclude = set(exclude)
    if exclude - set(SECTIONS):
        raise ValueError(f"exclude: unknown sections {sorted(exclude - set(SECTIONS))}; known: {', '.join(SECTIONS)}")
    summary, failure, rows, stage_dir = _load(summary_or_stage_dir, rows)
    if summary is None:
        name = (failure or {}).get("stage") or (stage_dir.name if stage_dir else None)
        return [("html", wrap(_section("heading", 2, name) + failure_html(failure or {}, name), with_style=True))]
    s = summary
    if s.get("lmeval") is not None:  # an lm-eval stage (08_mmlu): accuracy only, no LoadGen
        from mlnb.report.lmeval_view import lmeval_parts

        return lmeval_parts(s)
    parts: list[Part] = []
    top = [header_html(s), simulated_banner_html(s), verdict_banner_html(s), submittable_note_html(s)] if "verdict" not in exclude else []
    if s.get("status") == "failed" and "verdict" not in exclude:
        top.append(_section("failed_status"))
    m = key_metrics(s)
    has_perf = any(m[k] is not None for k in m if not k.startswith("rouge") and k != "exact_match")
    if s.get("mode") == "accuracy":
        top.append(_accuracy(s, max_examples))
    if (has_perf or s.get("mode") != "accuracy") and "key_metrics" not in exclude:
        top.append(_key_metrics(s))
        top.append(origin_gap_note(s))
    top.append(_percentile_table(s))
    from mlnb.report.custom_view import prompts_html

    top.append(prompts_html(s))  # custom and synthetic workloads only
    top.append(_loadgen_messages(s))
    parts.append(("html", wrap("".join(top), with_style=True)))
    if s.get("mode") == "accuracy" and (s.get("accuracy") or {}).get("per_dataset"):
        from mlnb.report.dsr1_view import per_dataset_figure

        parts.append(("png", plots.figure_png(per_dataset_figure(s["accuracy"])), "Exact match and tokens per dataset"))

    from mlnb.results import query_latencies

    lat = query_latencies(rows) if len(rows) else None
    limits = latency_limits(s)
    perf = s.get("mode") != "accuracy"
    sol, sol_why = _speed_of_light(s, rows) if perf else (None, "")
    floors = {"ttft_ms": getattr(sol, "ttft_floor_ms", None), "tpot_ms": getattr(sol, "tpot_floor_ms", None)}
    if s.get("simulated"):  # a simulator's times against a real device's floor would mislead
        floors = {}
    if lat is not None and perf:
        limit_note = any(v is not None for v in limits.values()) and "latency_charts" not in exclude
        parts.append(("html", wrap(_section("latency_intro", limit_note) + _sut_table(s))))
        for key, title, limit in (
            ("ttft_ms", "Time to first token (SUT timestamps)", limits.get("ttft_ms")),
            ("tpot_ms", "Time per output token (SUT timestamps)", limits.get("tpot_ms")),
            ("e2e_ms", "End-to-end latency (SUT timestamps)", None),
        ):
            values = lat.get(key)
            if values is not None and values.size and "latency_charts" not in exclude:
                fig = plots.latency_distribution(values, title, limit_ms=limit, floor_ms=floors.get(key))
                parts.append(("png", plots.figure_png(fig), title))
    if len(rows) and "throughput" not in exclude:
        parts.append(("html", wrap(_section("throughput_intro", perf))))
        fig = plots.throughput_timeline(rows, loadgen_tokens_per_s=key_metrics(s)["tokens_per_second"] if perf else None)
        parts.append(("png", plots.figure_png(fig), "Throughput over time"))
    elif perf and not len(rows):
        parts.append(("html", wrap(_section("no_queries"))))

    from mlnb.report.replica_view import replica_parts

    parts.extend(replica_parts(s, rows, stage_dir))  # replicas > 1 and profile=true only
    # Not tied to "throughput": the notebooks exclude that (a cell of theirs draws the chart), and this
    # table, gated on it at first, never reached a notebook's report.
    if perf:
        from mlnb.report.static_path_view import static_path_html

        phases = static_path_html(s)  # the hf backend's static path only
        if phases:
            parts.append(("html", wrap(phases)))
    parts.extend(telemetry_parts(s, stage_dir))
    parts.extend(_report_sections(s, rows, stage_dir, perf, sol, sol_why))
    tail = [_accuracy(s, max_examples) if s.get("mode") != "accuracy" else "", details_section_html(s)]
    parts.append(("html", wrap("".join(tail))))
    return parts


def verdict_html(summary: Any) -> str:
    """The stage view's opening alone, styled: the title, the simulated and verdict banners, the submittable note."""
    s = summary_dict(summary)
    top = [header_html(s), simulated_banner_html(s), verdict_banner_html(s), submittable_note_html(s)]
    if s.get("status") == "failed":
        top.append(_section("failed_status"))
    return wrap("".join(top), with_style=True)


def _speed_of_light(s: Mapping[str, Any], rows: Sequence[Mapping]):
    from mlnb.report.sol_view import stage_speed_of_light

    try:
        return stage_speed_of_light(s, rows)
    except Exception as err:  # the section must never cost the report
        return None, f"{err.__class__.__name__}: {err}"


def _report_sections(s, rows, stage_dir, perf: bool, sol, sol_why: str) -> list[Part]:
    """Load-generator health and speed of light (performance), token audit (accuracy), crosswalk."""
    from mlnb.report.crosswalk import crosswalk_html

    simulated = bool(s.get("simulated"))
    out: list[Part] = []
    if perf:
        from mlnb.report.loadgen_health import assess, health_figure, health_html
        from mlnb.report.sol_view import sol_html

        health = assess(s, rows)
        out.append(("html", wrap(health_html(health, simulated))))
        fig = health_figure(health)
        if fig is not None:
            out.append(("png", plots.figure_png(fig), "Load-generator lag and TTFT by clock origin"))
        out.append(("html", wrap(sol_html(sol, sol_why, simulated))))
    elif s.get("mode") == "accuracy" and stage_dir is not None:
        from mlnb.report.token_audit import audit_html, audit_stage, lengths_figure

        try:
            audit, why = audit_stage(s, Path(stage_dir))
        except Exception as err:
            audit, why = None, f"{err.__class__.__name__}: {err}"
        out.append(("html", wrap(audit_html(audit, why, simulated, s.get("scenario")))))
        if audit is not None and audit.output_lengths.size:
            out.append(("png", plots.figure_png(lengths_figure(audit)), "Output length against the reference outputs"))
    out.append(("html", wrap(crosswalk_html())))
    return out


def stage_html(summary_or_stage_dir: Any, rows: Optional[Sequence[Mapping]] = None, max_examples: int = 3) -> str:
    """The stage view as one HTML fragment, figures embedded as PNG data URIs."""
    parts = stage_parts(summary_or_stage_dir, rows=rows, max_examples=max_examples)
    return "\n".join(part[1] if part[0] == "html" else png_img_html(part[1], part[2]) for part in parts)


def show_stage(summary_or_stage_dir: Any, rows: Optional[Sequence[Mapping]] = None, max_examples: int = 3,
               exclude: Iterable[str] = ()) -> None:
    """Display a stage's results in the notebook.

    ``summary_or_stage_dir``: the stage folder (or its summary.json), a summary dict, or a
    ``StageSummary``. Per-query plots read ``queries.jsonl`` from the stage folder unless
    ``rows`` are given.
    """
    display_parts(stage_parts(summary_or_stage_dir, rows=rows, max_examples=max_examples, exclude=exclude))


def show_params(params_dict: Any) -> None:
    """Display the stage's parameters (dict or StageParams) as a table."""
    from IPython.display import HTML, display

    display(HTML(wrap(_section("heading", 3, "Parameters") + params_html(params_dict), with_style=True)))
