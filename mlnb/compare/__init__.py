"""Comparison between finished runs: comparability checks, bootstrap intervals, verdicts, a report.

``mlnb compare RUN_A RUN_B [RUN_C ...]`` (:func:`mlnb.compare.output.write_comparison`) and the
``compare`` notebook (:mod:`mlnb.compare.notebook`) use it. Modules: :mod:`.loading` (run folders,
bad input), :mod:`.comparability` (what differs), :mod:`.stats` (bootstrap and verdicts),
:mod:`.build` (compare.json), :mod:`.figures` and :mod:`.view` (the page), :mod:`.links` (run indexes).
"""
