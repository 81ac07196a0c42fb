"""The sections every stage page opens and closes with: header, banners, parameters and details.

Shared by the LoadGen stage view (stage_view) and the lm-eval view (lmeval_view), so that neither
imports the other.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from mlnb.report.markup import Markup, kv_table, macro

__all__ = [
    "details_section_html",
    "header_html",
    "is_length_reason",
    "params_html",
    "simulated_banner_html",
    "submittable_note_html",
    "verdict_banner_html",
]


def _section(name: str, *args: Any, **kwargs: Any) -> str:
    return str(macro("stage.html.j2", name, *args, **kwargs))


def header_html(s: Mapping[str, Any]) -> str:
    engine = s.get("engine") if isinstance(s.get("engine"), Mapping) else {}
    return _section(
        "header",
        title=s.get("title") or s.get("stage") or "Stage",
        stage=s.get("stage"),
        simulated=bool(s.get("simulated")),
        facts=[b for b in (s.get("scenario"), s.get("mode"), s.get("model_key")) if b],
        model=s.get("model"),
        backend=s.get("backend"),
        # a server: which form the prompts took, and whose tokenizer counted them
        prompt_form=engine.get("prompt_form"),
        tokenizer=engine.get("tokenizer"),
    )


def simulated_banner_html(s: Mapping[str, Any], what: Optional[str] = None) -> str:
    """The SIMULATED banner; ``what`` replaces the sentence saying where the numbers come from."""
    if not s.get("simulated"):
        return ""
    engine = s.get("engine") or {}
    timing = engine.get("timing_model") if isinstance(engine, Mapping) else None
    timing_text = ", ".join(f"{k} = {v}" for k, v in timing.items()) if isinstance(timing, Mapping) else ""
    return _section("simulated_banner", timing_text, what)


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
    kind = "good" if upper in ("VALID", "PASS") else "bad" if upper in ("INVALID", "FAIL") else "neutral"
    reasons = [r for r in (s.get("verdict_reasons") or []) if r]
    length_hint = bool(upper == "INVALID" and reasons and s.get("relaxed_rules") and all(is_length_reason(r) for r in reasons))
    if upper == "INVALID" and not reasons:
        reasons = ["(no reason recorded)"]
    return _section("verdict_banner", kind, verdict, _VERDICT_TEXT.get(upper, ""), reasons, length_hint)


# LoadGen's reasons that only mean "the run was too short" (early stopping, min duration/queries).
_LENGTH_WORDS = ("early stopping", "min duration", "min queries", "min query", "more queries", "processed", "run unsuccessful")


def is_length_reason(reason: str) -> bool:
    text = reason.lower()
    return any(word in text for word in _LENGTH_WORDS)


def submittable_note_html(s: Mapping[str, Any]) -> str:
    rules = [r for r in (s.get("relaxed_rules") or []) if r]
    return _section("submittable_note", bool(s.get("submittable") and not rules), rules)


def details_section_html(s: Mapping[str, Any]) -> str:
    sections = []
    for key, title in (
        ("engine", "Engine"),
        ("dataset", "Dataset"),
        ("timings_s", "Timings (s)"),
        ("environment", "Environment"),
        ("params", "Stage parameters"),
    ):
        value = s.get(key)
        if isinstance(value, Mapping) and value:
            sections.append((title, Markup(params_html(value) if key == "params" else kv_table(value))))
    lg = s.get("loadgen") or {}
    if isinstance(lg, Mapping) and lg:
        settings = lg.get("settings")
        if isinstance(settings, Mapping) and settings:
            sections.append(("LoadGen settings (as run)", Markup(kv_table(settings))))
        skip = ("settings", "raw", "raw_repeated", "latency", "ttft", "tpot", "errors", "warnings")
        sections.append(("LoadGen result (parsed log)", Markup(kv_table(lg, skip=skip))))
    return _section("details_section", sections)


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
    rows = [(key, value, key in defaults and defaults[key] != value, defaults.get(key)) for key, value in params.items()]
    return _section("params", rows)
