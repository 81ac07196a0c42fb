"""What a network backend's per-query records add to a stage summary.

LoadGen measures TTFT from the query's scheduled time; a network client also records when the
request left it (``sent_ms``). Both are shown side by side, so client-side delay is visible
(peers.md section 2: most peer tools measure from the send time).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

import numpy as np

from mlnb.results import describe


def client_side_stats(rows: list[dict]) -> Optional[dict[str, Any]]:
    sent = [r for r in rows if r.get("sent_ms") is not None]
    if not sent:
        return None
    answered = [r for r in sent if r.get("first_token_ms") is not None and not r.get("error")]
    send_delay = np.array([r["sent_ms"] - r["issued_ms"] for r in sent], dtype=float)
    ttft_issue = np.array([r["first_token_ms"] - r["issued_ms"] for r in answered], dtype=float)
    ttft_send = np.array([r["first_token_ms"] - r["sent_ms"] for r in answered], dtype=float)
    errors = Counter(r.get("error_kind") or "error" for r in rows if r.get("error"))
    return {
        "source": "client timestamps: issued (query reached the SUT), sent (request left the client), "
        "first chunk received, end",
        "send_delay_ms": describe(send_delay),
        "ttft_from_issue_ms": describe(ttft_issue),
        "ttft_from_send_ms": describe(ttft_send),
        "errors_by_kind": dict(errors),
        "token_count_mismatches": sum(bool(r.get("token_count_mismatch")) for r in rows),
        "token_sources": dict(Counter(r["token_source"] for r in rows if r.get("token_source"))),
    }
