"""pandas DataFrames of mlnb's results, and charts drawn from them, for analysis in a notebook.

One call each (the columns are documented in each module):

- :func:`queries` (``mlnb.analysis.query_frame``): a stage's per-query table, latencies in ms.
- :func:`key_metrics`, :func:`stages` (``mlnb.analysis.stage_frame``): a stage's key metrics; a run's stages.
- :func:`runs` (``mlnb.analysis.run_frame``): the runs in an outputs folder.
- :func:`sweep_points` (``mlnb.analysis.sweep_frame``): a sweep's points.
- ``mlnb.analysis.charts``: figures of those tables; ``mlnb.analysis.export``: CSV / Parquet files.

The tables are read from what a run wrote (summary.json, queries.jsonl, sweep.json); nothing is re-run.
"""

from mlnb.analysis.query_frame import queries
from mlnb.analysis.run_frame import runs
from mlnb.analysis.stage_frame import key_metrics, stages
from mlnb.analysis.sweep_frame import sweep_points

__all__ = ["key_metrics", "queries", "runs", "stages", "sweep_points"]
