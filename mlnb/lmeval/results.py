"""Overall, per-group and per-subject accuracy out of lm-eval's results JSON.

lm-eval keys a metric as ``"<metric>,<filter>"`` (``"acc,none"``, ``"acc_stderr,none"``) under
``results[<task or group>]``; ``group_subtasks`` maps each group to its members and ``n-samples`` gives
each subject's question count (``effective`` after ``--limit``). A group's accuracy is lm-eval's own
aggregate (for MMLU: weighted by each subject's question count), never recomputed here.
"""

from __future__ import annotations

import math
from typing import Any, Optional

METRIC = "acc"
FILTER = "none"


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):  # lm-eval writes "N/A" for a stderr it could not compute
        return None
    return number if math.isfinite(number) else None


def _entry(results: dict, name: str, n: Optional[int]) -> dict[str, Any]:
    row = results.get(name) or {}
    return {
        "task": name,
        "name": str(row.get("alias") or name).strip(" -"),
        METRIC: _number(row.get(f"{METRIC},{FILTER}")),
        f"{METRIC}_stderr": _number(row.get(f"{METRIC}_stderr,{FILTER}")),
        "n": n,
    }


def _leaves(name: str, tree: dict[str, list[str]]) -> list[str]:
    if name not in tree:
        return [name]
    return [leaf for child in tree[name] for leaf in _leaves(child, tree)]


def summarize(raw: dict, task: str) -> dict[str, Any]:
    """``{task, metric, acc, acc_stderr, n, num_fewshot, groups: [...], subjects: [...]}`` for ``task``."""
    results = raw.get("results") or {}
    if task not in results:
        raise ValueError(f"lm-eval's results have no entry for {task!r} (entries: {', '.join(results) or 'none'})")
    tree = {group: list(members) for group, members in (raw.get("group_subtasks") or {}).items()}
    counts = {name: int((n or {}).get("effective", 0)) for name, n in (raw.get("n-samples") or {}).items()}
    subjects = [_entry(results, name, counts.get(name)) for name in _leaves(task, tree)]
    total = sum(s["n"] or 0 for s in subjects)
    groups = [
        _entry(results, name, sum(counts.get(leaf, 0) for leaf in _leaves(name, tree)))
        for name in _walk_groups(task, tree)
        if name != task
    ]
    overall = _entry(results, task, total)
    n_shot = (raw.get("n-shot") or {}).get(task)
    if n_shot is None and subjects:
        n_shot = (raw.get("n-shot") or {}).get(subjects[0]["task"])
    return {
        "task": task,
        "metric": METRIC,
        METRIC: overall[METRIC],
        f"{METRIC}_stderr": overall[f"{METRIC}_stderr"],
        "n": total,
        "num_fewshot": n_shot,
        "groups": groups,
        "subjects": sorted(subjects, key=lambda s: s["name"]),
    }


def _walk_groups(name: str, tree: dict[str, list[str]]) -> list[str]:
    if name not in tree:
        return []
    return [name] + [g for child in tree[name] for g in _walk_groups(child, tree)]


def task_configuration(raw: dict, task: str) -> dict[str, Any]:
    """The configuration of the first subject (they share the prompt, split and metric settings)."""
    configs = raw.get("configs") or {}
    tree = raw.get("group_subtasks") or {}
    first = _leaves(task, {k: list(v) for k, v in tree.items()})[0]
    config = dict(configs.get(first) or {})
    keep = (
        "dataset_path", "dataset_name", "test_split", "fewshot_split", "fewshot_config", "num_fewshot",
        "output_type", "doc_to_text", "doc_to_choice", "doc_to_target", "description", "target_delimiter",
        "fewshot_delimiter", "metric_list", "metadata",
    )
    out = {key: config[key] for key in keep if key in config}
    if isinstance(out.get("fewshot_config"), dict):
        out["fewshot_config"] = {k: v for k, v in out["fewshot_config"].items() if k in ("sampler", "split")}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k == "version"}
    if config.get("custom_dataset"):
        out["dataset"] = "custom_dataset (local files)"
    out["example_task"] = first
    out["versions"] = raw.get("versions") or {}
    return out
