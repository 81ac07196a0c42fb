"""The calls ``notebooks/compare.ipynb`` makes: load (or compute) a comparison, show it, plot it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from mlnb.compare.output import COMPARE_FILE, compute_comparison
from mlnb.fileio import read_json

__all__ = ["COMPARE_FILE", "load_comparison", "show_distributions", "show_summary"]


def load_comparison(compare_dir: str = "", runs: Sequence[str] = (), force: bool = False) -> dict[str, Any]:
    """compare.json of ``compare_dir`` when given; else compare ``runs`` in memory (nothing is written)."""
    if compare_dir:
        return read_json(Path(compare_dir) / COMPARE_FILE)
    return compute_comparison(list(runs), force=force, comparison_id="(not saved)")[0]


def show_summary(comparison: dict[str, Any], compare_dir: Optional[str] = None) -> None:
    """The verdict, what differs, every metric's difference and the key metrics."""
    from mlnb.compare.view import summary_parts
    from mlnb.report.markup import display_parts

    display_parts(summary_parts(comparison, compare_dir or None))


def show_distributions(comparison: dict[str, Any], compare_dir: Optional[str] = None) -> None:
    """The per-query distributions of every performance stage overlaid, and the method."""
    from mlnb.compare.view import distribution_parts
    from mlnb.report.markup import display_parts

    display_parts(distribution_parts(comparison, compare_dir or None))
