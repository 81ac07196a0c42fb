"""pandas DataFrames of mlnb's results, and charts drawn from them, for analysis in a notebook.

One call each (the columns are documented in each module):

- :func:`queries` (``mlnb.analysis.queries``): a stage's per-query table, latencies in ms.
- :func:`key_metrics`, :func:`stages` (``mlnb.analysis.stages``): a stage's key metrics; a run's stages.
- :func:`runs` (``mlnb.analysis.runs``): the runs in an outputs folder.
- :func:`sweep_points` (``mlnb.analysis.sweeps``): a sweep's points.
- ``mlnb.analysis.charts``: figures of those tables; ``mlnb.analysis.export``: CSV / Parquet files.

The tables are read from what a run wrote (summary.json, queries.jsonl, sweep.json); nothing is re-run.
"""

from mlnb.analysis.queries import queries
from mlnb.analysis.runs import runs
from mlnb.analysis.stages import key_metrics, stages
from mlnb.analysis.sweeps import sweep_points

__all__ = ["key_metrics", "queries", "runs", "stages", "sweep_points"]
