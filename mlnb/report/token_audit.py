"""Token audit of an accuracy stage's accuracy log: MLPerf's TEST06 checks and output lengths.

The three checks are mlnb.compliance.test06's (first-token data a prefix of the response, at most
one trailing EOS with the model's real EOS ids, ``n_tokens`` equal to the response's tokens), run on
every logged response instead of TEST06's ~100 samples. The output lengths are set against the
dataset's reference outputs, tokenized with the model's tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import matplotlib.ticker
import numpy as np

from mlnb.compliance.test06 import Test06Result, verify
from mlnb.report.plots import COLORS, house_style
from mlnb.report.plots import new_figure as _figure


@dataclass
class TokenAudit:
    checks: Test06Result
    eos_ids: list[int]
    first_token_logged: bool
    output_lengths: np.ndarray
    reference_lengths: Optional[np.ndarray] = None
    notes: list[str] = field(default_factory=list)


def _tokenizer(model: str):
    from transformers import AutoTokenizer

    from mlnb.models.embedded import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(model, prepare=False))


def _eos_ids(engine: Mapping[str, Any], tokenizer) -> list[int]:
    ids = engine.get("eos_token_ids")
    if ids:
        return [int(i) for i in ids]
    if tokenizer is None or tokenizer.eos_token_id is None:
        return []
    return [int(tokenizer.eos_token_id)]


def _references(params: Mapping[str, Any], qsl_idx: list[int], tokenizer) -> Optional[np.ndarray]:
    from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm

    dataset = params.get("dataset") or "embedded"
    records = load_cnndm(Path(EMBEDDED_DATASET) if dataset == "embedded" else Path(dataset))
    if params.get("samples") is not None:
        records = records[: int(params["samples"])]
    texts = [str(records[i].get("output") or "") for i in qsl_idx if 0 <= i < len(records)]
    if len(texts) != len(qsl_idx):
        return None
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.array([len(ids) for ids in encoded], dtype=float)


def audit_stage(s: Mapping[str, Any], stage_dir: Path) -> tuple[Optional[TokenAudit], str]:
    """-> (audit, "") or (None, why not)."""
    log = stage_dir / "loadgen" / "mlperf_log_accuracy.json"
    try:
        entries = json.loads(log.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        return None, f"{log.name} could not be read ({err.__class__.__name__})"
    if not isinstance(entries, list) or not entries:
        return None, f"{log.name} holds no responses"
    params = s.get("params") or {}
    notes: list[str] = []
    tokenizer = None
    try:
        tokenizer = _tokenizer(str(params.get("model") or "embedded"))
    except Exception as err:  # report without reference lengths rather than not at all
        notes.append(f"the model's tokenizer could not be loaded ({err.__class__.__name__}): no reference lengths")
    eos = _eos_ids(s.get("engine") or {}, tokenizer)
    if not eos:
        notes.append("no EOS ids known: the EOS check found nothing to count")
    logged_first = any(e.get("token_data") for e in entries)
    offline = s.get("scenario") == "Offline" or not logged_first
    if s.get("scenario") != "Offline" and not logged_first:
        notes.append("this accuracy log carries no first-token data (LoadGen writes it only when the SUT reports a first token): "
                     "first-token check skipped")
    result = verify(entries, eos, offline=offline)
    lengths = np.array([int(e.get("token_count") or 0) for e in entries], dtype=float)
    refs = None
    if tokenizer is not None:
        try:
            refs = _references(params, [int(e.get("qsl_idx", -1)) for e in entries], tokenizer)
        except Exception as err:
            notes.append(f"reference outputs could not be read ({err.__class__.__name__})")
    return TokenAudit(result, eos, logged_first, lengths, refs, notes), ""


def _stats(values: Optional[np.ndarray]) -> list[str]:
    from mlnb.report.markup import fmt_value

    if values is None or not values.size:
        return ["\u2014"] * 5
    return [fmt_value(float(values.mean())), fmt_value(float(np.percentile(values, 50))), fmt_value(float(np.percentile(values, 90))), fmt_value(float(values.max())), f"{values.size:,}"]


def first_token_skip_reason(audit: TokenAudit, scenario: Optional[str]) -> str:
    """Why the first-token check did not run."""
    if scenario == "Offline":
        return "Offline does not stream, so LoadGen logs no first token to compare (TEST06 skips it in Offline too)"
    if not audit.first_token_logged:
        return "this accuracy log carries no first-token data"
    return "not checked"


def audit_html(audit: Optional[TokenAudit], why: str, simulated: bool = False, scenario: Optional[str] = None) -> str:
    from mlnb.report.markup import macro

    if audit is None:
        return str(macro("workloads.html.j2", "token_audit_unavailable", simulated, why))
    c = audit.checks
    skipped = first_token_skip_reason(audit, scenario) if c.first_token == "Skipped" else ""
    checks = [
        ("first-token data is a prefix of the response", c.first_token == "True", skipped),
        (f"at most one trailing EOS (ids {', '.join(map(str, audit.eos_ids)) or 'none'})", c.eos, ""),
        ("n_tokens equals the tokens in the response", c.sample_length, ""),
    ]
    length_rows = [["this run (n_tokens)", *_stats(audit.output_lengths)]]
    if audit.reference_lengths is not None:
        length_rows.append(["dataset reference outputs", *_stats(audit.reference_lengths)])
    ratio = None
    if audit.reference_lengths is not None and audit.reference_lengths.size and audit.reference_lengths.mean() > 0:
        ratio = float(audit.output_lengths.mean() / audit.reference_lengths.mean())
    return str(macro("workloads.html.j2", "token_audit", simulated, bool(c.passed), COLORS["good"] if c.passed else COLORS["bad"],
                     c.samples, checks, list(c.problems or []), list(audit.notes), length_rows, ratio))


def lengths_figure(audit: TokenAudit):
    with house_style():
        fig = _figure(11, 3.4)
        ax = fig.subplots()
        ax.set_title("Output length: this run against the dataset's reference outputs")
        series = [(audit.output_lengths, "this run (n_tokens)", COLORS["primary"])]
        if audit.reference_lengths is not None:
            series.append((audit.reference_lengths, "reference outputs", COLORS["secondary"]))
        values = np.concatenate([v for v, _, _ in series if v.size]) if any(v.size for v, _, _ in series) else np.array([0.0])
        hi = max(float(values.max()), 1.0)
        bins = np.linspace(0, hi * 1.02, 30)
        for v, label, color in series:
            if v.size:
                ax.hist(v, bins=bins, alpha=0.55, color=color, label=f"{label}, mean {v.mean():.0f}", edgecolor="white", linewidth=0.4)
        ax.set_xlabel("tokens")
        ax.set_ylabel("responses")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        fig.legend(loc="outside lower center", ncols=2)  # outside the axes: never over a bar
    return fig
