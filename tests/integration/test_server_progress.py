"""A Server stage's progress bar does not read full while LoadGen is still issuing queries.

The sim backend keeps up with the arrivals, so at every progress line "completed" equals (or nearly
equals) "issued so far": measured against that, the bar read full from the first second. The harness
now reports LoadGen's own count of the queries it generated (``total=``), and the bar measures against it.
"""

import subprocess
import sys

from mlnb.ui.progress import StageProgress, parse_cli_line


def test_server_stage_bar_is_not_full_while_queries_are_coming(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--stages", "03_server_perf", "--backend", "sim",
         "--set", "03_server_perf.target_qps=4", "--set", "03_server_perf.min_duration_ms=8000",
         "--set", "sim_tpot_ms=1", "--set", "sim_ttft_ms=5",
         "--outputs", str(tmp_path / "outputs"), "--progress-lines", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # a short Server run may be INVALID
    progress = [e.progress for e in map(parse_cli_line, result.stdout.splitlines()) if e is not None and e.kind == "progress"]
    assert progress, result.stdout
    running = [p for p in progress[:-1] if p.issued < progress[-1].completed]  # lines taken while queries kept coming
    assert running, result.stdout
    for p in running:
        assert p.completed >= p.issued - 2  # the old measure: completed of issued, full or nearly
        value, top = p.bar()
        assert value < top, p
    totals = {p.total for p in progress if p.total}
    assert len(totals) == 1, totals  # LoadGen's generated count, the same in every line once known
    final = progress[-1]
    assert final.completed == totals.pop()  # and it is the number of queries that were issued in the end
    assert StageProgress("s", "finished", final.issued, final.completed, total=final.total).bar() == (final.completed,) * 2
