"""The profiler window of a stage (``profile=true``): the top ops by device time, and the Chrome trace beside it."""

from __future__ import annotations

import html
from typing import Any, Mapping


def profile_html(s: Mapping[str, Any], stage_dir=None) -> str:
    profile = (s.get("engine") or {}).get("profile")
    if not isinstance(profile, Mapping):
        return ""
    by = str(profile.get("sorted_by") or "time")
    rows = []
    for op in profile.get("top_ops") or []:
        rows.append(
            f"<tr><td>{html.escape(str(op.get('name')))}</td><td class=\"n\">{op.get('calls', 0):,}</td>"
            f"<td class=\"n\">{float(op.get('self_ms') or 0):,.2f}</td><td class=\"n\">{float(op.get('total_ms') or 0):,.2f}</td></tr>"
        )
    trace = profile.get("trace_file")
    link = (f'<a href="{html.escape(str(trace))}">{html.escape(str(trace))}</a> (open it in Perfetto or chrome://tracing)'
            if trace else "no trace file")
    window = html.escape(str(profile.get("window") or ""))
    table = ('<table class="t"><thead><tr><th>op / kernel</th><th class="n">calls</th>'
             f'<th class="n">self {html.escape(by)}, ms</th><th class="n">total {html.escape(by)}, ms</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    return (f"<h3>Profile (torch.profiler, {html.escape(str(profile.get('device') or ''))})</h3>"
            f'<p class="muted">{window} Top {len(rows)} by self {html.escape(by)}. Chrome trace: {link}.</p>' + table)
