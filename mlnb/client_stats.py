"""What a network backend's per-query records add to a stage summary.

LoadGen measures TTFT from the query's scheduled time; a network client also records when the
request left it (``sent_ms``). Both are shown side by side, so client-side delay is visible
(peers.md section 2: most peer tools measure from the send time).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from mlnb.query_table import as_table, column, count_true, counts, text_column
from mlnb.results import describe


def client_side_stats(rows) -> Optional[dict[str, Any]]:
    """``rows``: a query table (mlnb.query_table) or query dicts."""
    table = as_table(rows)
    sent_ms = column(table, "sent_ms")
    sent = ~np.isnan(sent_ms)
    if not sent.any():
        return None
    issued, first = column(table, "issued_ms"), column(table, "first_token_ms")
    error = text_column(table, "error")
    answered = sent & ~np.isnan(first) & (error == None)  # noqa: E711 (elementwise)
    kinds = text_column(table, "error_kind")[error != None]  # noqa: E711
    sources = text_column(table, "token_source")
    return {
        "source": "client timestamps: issued (query reached the SUT), sent (request left the client), "
        "first chunk received, end",
        "send_delay_ms": describe(sent_ms[sent] - issued[sent]),
        "ttft_from_issue_ms": describe(first[answered] - issued[answered]),
        "ttft_from_send_ms": describe(first[answered] - sent_ms[answered]),
        "errors_by_kind": counts(np.where(kinds == None, "error", kinds)),  # noqa: E711
        "token_count_mismatches": count_true(table, "token_count_mismatch"),
        "token_sources": counts(sources[sources != None]),  # noqa: E711
    }
