"""The sections every stage page opens and closes with: header, banners, parameters and details.

Shared by the LoadGen stage view (stage_view) and the lm-eval view (lmeval_view), so that neither
imports the other.
"""

from __future__ import annotations

from typing import Any, Mapping

from mlnb.report.markup import details, esc, kv_table, simulated_tag, table, value_html

__all__ = [
    "details_section_html",
    "header_html",
    "is_length_reason",
    "params_html",
    "simulated_banner_html",
    "submittable_note_html",
    "verdict_banner_html",
]


def header_html(s: Mapping[str, Any]) -> str:
    title = s.get("title") or s.get("stage") or "Stage"
    bits = [s.get("scenario"), s.get("mode"), s.get("model_key")]
    line = " \u00b7 ".join(esc(b) for b in bits if b)
    model = f"model <b>{esc(s.get('model'))}</b> on backend <b>{esc(s.get('backend'))}</b>"
    engine = s.get("engine") if isinstance(s.get("engine"), Mapping) else {}
    if engine.get("prompt_form"):  # a server: which form the prompts took, and whose tokenizer counted them
        model += f" · prompts as <b>{esc(engine['prompt_form'])}</b> (tokenizer: {esc(engine.get('tokenizer'))})"
    tag = simulated_tag() if s.get("simulated") else ""
    return f'<h2>{esc(title)} <span class="muted">({esc(s.get("stage"))})</span>{tag}</h2><p class="sub">{line} \u2014 {model}</p>'


def simulated_banner_html(s: Mapping[str, Any]) -> str:
    if not s.get("simulated"):
        return ""
    engine = s.get("engine") or {}
    timing = engine.get("timing_model") if isinstance(engine, Mapping) else None
    timing_html = ""
    if isinstance(timing, Mapping) and timing:
        timing_html = "<p>Timing model: " + esc(", ".join(f"{k} = {v}" for k, v in timing.items())) + "</p>"
    return (
        '<div class="banner sim"><div class="big">SIMULATED \u2014 no model ran</div>'
        "<p>Every latency and throughput number below comes from mlnb's simulator, not from a model on "
        "hardware. It exercises LoadGen and the report; it says nothing about any system's performance.</p>"
        f"{timing_html}</div>"
    )


_VERDICT_TEXT = {
    "VALID": "LoadGen judged this performance run valid.",
    "INVALID": "LoadGen (or the SUT) judged this run invalid; the reasons:",
    "PASS": "Accuracy meets every MLPerf target.",
    "FAIL": "Accuracy misses MLPerf targets:",
    "SCORED": "Every sample was answered and scored; your dataset has no accuracy target to pass or fail.",
}


def verdict_banner_html(s: Mapping[str, Any]) -> str:
    verdict = str(s.get("verdict") or "n/a")
    upper = verdict.upper()
    css = "good" if upper in ("VALID", "PASS") else "bad" if upper in ("INVALID", "FAIL") else "neutral"
    reasons = [r for r in (s.get("verdict_reasons") or []) if r]
    text = _VERDICT_TEXT.get(upper, "")
    items = "".join(f"<li>{esc(r)}</li>" for r in reasons)
    if upper == "INVALID" and not reasons:
        items = "<li>(no reason recorded)</li>"
    hint = ""
    if upper == "INVALID" and reasons and s.get("relaxed_rules") and all(is_length_reason(r) for r in reasons):
        hint = (
            '<p style="margin-top:6px"><b>Expected for a short run:</b> LoadGen wants more queries or a longer '
            "duration than this run was set up for; the numbers are still measured the same way.</p>"
        )
    return (
        f'<div class="banner {css}"><div class="big">{esc(verdict)}</div>'
        f"<p>{esc(text)}</p>{f'<ul>{items}</ul>' if items else ''}{hint}</div>"
    )


# LoadGen's reasons that only mean "the run was too short" (early stopping, min duration/queries).
_LENGTH_WORDS = ("early stopping", "min duration", "min queries", "min query", "more queries", "processed", "run unsuccessful")


def is_length_reason(reason: str) -> bool:
    text = reason.lower()
    return any(word in text for word in _LENGTH_WORDS)


def submittable_note_html(s: Mapping[str, Any]) -> str:
    rules = [r for r in (s.get("relaxed_rules") or []) if r]
    if s.get("submittable") and not rules:
        return '<div class="info">No MLPerf rule was relaxed for this run.</div>'
    items = "".join(f"<li>{esc(r)}</li>" for r in rules) or "<li>(not recorded)</li>"
    return (
        '<div class="note"><b>Not submittable.</b> This run departs from the MLPerf rules, so its numbers '
        f"are for development only:<ul>{items}</ul></div>"
    )


def details_section_html(s: Mapping[str, Any]) -> str:
    parts = ["<h2>Engine, environment and parameters</h2>"]
    for key, title in (
        ("engine", "Engine"),
        ("dataset", "Dataset"),
        ("timings_s", "Timings (s)"),
        ("environment", "Environment"),
        ("params", "Stage parameters"),
    ):
        value = s.get(key)
        if isinstance(value, Mapping) and value:
            inner = params_html(value) if key == "params" else kv_table(value)
            parts.append(details(title, inner))
    lg = s.get("loadgen") or {}
    if isinstance(lg, Mapping) and lg:
        settings = lg.get("settings")
        if isinstance(settings, Mapping) and settings:
            parts.append(details("LoadGen settings (as run)", kv_table(settings)))
        skip = ("settings", "raw", "raw_repeated", "latency", "ttft", "tpot", "errors", "warnings")
        parts.append(details("LoadGen result (parsed log)", kv_table(lg, skip=skip)))
    return "".join(parts)


def params_html(params: Any) -> str:
    """A parameter table; values that differ from the StageParams defaults are bold."""
    if hasattr(params, "model_dump"):
        params = params.model_dump(mode="json")
    params = dict(params or {})
    try:
        from mlnb.config import StageParams

        defaults = {name: field.default for name, field in StageParams.model_fields.items()}
    except Exception:  # pragma: no cover - config unavailable
        defaults = {}
    rows = []
    for key, value in params.items():
        changed = key in defaults and defaults[key] != value
        shown = value_html(value)
        if changed:
            default = "none" if defaults[key] is None else esc(defaults[key])
            shown = f"<b>{shown}</b> <span class=\"muted\">(default {default})</span>"
        rows.append([f"<code>{esc(key)}</code>", shown])
    return table(["parameter", "value"], rows)
