"""The profiler window of a stage (``profile=true``): the top ops by device time, and the Chrome trace beside it."""

from __future__ import annotations

from typing import Any, Mapping

from mlnb.report.markup import macro


def profile_html(s: Mapping[str, Any], stage_dir=None) -> str:
    profile = (s.get("engine") or {}).get("profile")
    if not isinstance(profile, Mapping):
        return ""
    ops = [
        (str(op.get("name")), f"{op.get('calls', 0):,}", f"{float(op.get('self_ms') or 0):,.2f}",
         f"{float(op.get('total_ms') or 0):,.2f}")
        for op in profile.get("top_ops") or []
    ]
    trace = profile.get("trace_file")
    return str(macro("replicas.html.j2", "profile", str(profile.get("device") or ""), str(profile.get("window") or ""),
                     str(profile.get("sorted_by") or "time"), ops, str(trace) if trace else None))
