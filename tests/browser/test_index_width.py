"""A run's index.html fits a 1280 px window: no sideways scrolling, the stage table inside the page.

Built from hand-written stage summaries (every kind of stage the index shows), opened in chromium;
seconds, no run needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report import _summary, _write_stage, accuracy_summary, server_sim_summary  # noqa: E402

from mlnb.report.run_index import write_index  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTH = 1280


def _run(folder: Path) -> Path:
    _write_stage(folder, _summary("01_offline_perf"))
    _write_stage(folder, accuracy_summary())
    _write_stage(folder, server_sim_summary())
    _write_stage(folder, _summary("05_singlestream_perf", scenario="SingleStream", verdict="INVALID",
                                  verdict_reasons=["min duration not met", "early stopping not met", "a", "b"]))
    _write_stage(folder, _summary("11_dsr1_offline_accuracy", mode="accuracy", verdict="FAIL",
                                  accuracy={"metric_family": "exact_match", "exact_match": 12.5, "targets": []}))
    mmlu = {**_summary("08_mmlu", mode="accuracy", verdict="ACCURACY ONLY"), "lmeval": {"task": "mmlu"},
            "metrics": {"accuracy": 0.4567, "accuracy_stderr": 0.0123}}
    _write_stage(folder, mmlu)
    summary = folder / "99_run_summary"
    summary.mkdir()
    (summary / "99_run_summary.html").write_text("<html></html>")
    (folder / "run.json").write_text(json.dumps({
        "run_id": "20261204-191039-a-rather-long-run-identifier", "preset": "smoke", "started": "2026-12-04T19:08:57+00:00",
        "finished": "2026-12-04T19:10:39+00:00", "status": "finished"}))
    write_index(folder)
    return folder / "index.html"


def test_the_index_fits_a_1280_px_window(tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (make browser installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    index = _run(tmp_path / "run")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(index.as_uri())
            page.wait_for_load_state("load")
            scroll = page.evaluate("document.documentElement.scrollWidth")
            client = page.evaluate("document.documentElement.clientWidth")
            assert scroll <= client, f"the page is {scroll} px wide in a {client} px window"
            right = page.evaluate("Math.max(...Array.from(document.querySelectorAll('table, img')).map(e => e.getBoundingClientRect().right))")
            assert right <= client
            body = page.locator("body").inner_text()
            assert "exact match" in body and "ROUGE-1" in body and "lm-eval accuracy" in body
        finally:
            browser.close()
