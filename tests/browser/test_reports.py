"""The index and stage reports of a real (simulated-backend) run, as a person sees them in chromium.

Checks what is visible: the verdict before everything else, the speed-of-light, load-generator and
token-audit sections, charts that decode (naturalWidth > 0), nothing requested outside file://, and
each page within the size budget. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PAGE_BUDGET_BYTES = 1_500_000  # small enough to mail
STAGES = "02_offline_accuracy,03_server_perf"
SIM_FAST = ["--set", "sim_tpot_ms=1", "--set", "sim_ttft_ms=5", "--set", "03_server_perf.target_qps=20"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    out = tmp_path_factory.mktemp("outputs")
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--backend", "sim", "--outputs", str(out),
         "--stages", STAGES, *SIM_FAST],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (out / "latest").resolve()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, path: Path, shot: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    outside = [u for u in requests if not u.startswith(("file://", "data:", "about:"))]
    assert not outside, f"{path.name} fetched {outside[:3]}"
    broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
    assert not broken, f"{path.name}: images that did not decode: {broken}"
    return page


def _visible(page, text: str) -> bool:
    return page.get_by_text(text, exact=False).first.is_visible()


def test_the_device_was_measured_once_for_the_run(run_dir):
    import json

    measure = json.loads((run_dir / "device_measure.json").read_text())
    assert measure["device"] == "cpu" and measure["copy"]["bandwidth_gbps"] > 0


def test_pages_fit_the_size_budget(run_dir):
    pages = [run_dir / "index.html", *run_dir.glob("*/*.html")]
    assert len(pages) == 3
    for page in pages:
        assert page.stat().st_size < PAGE_BUDGET_BYTES, f"{page.name}: {page.stat().st_size} bytes"


def test_index_shows_verdicts_and_charts(run_dir, browser):
    page = _open(browser, run_dir / "index.html", "report-index.png")
    body = page.inner_text("body")
    assert "SIMULATED" in body
    assert "INVALID" in body or "VALID" in body
    assert page.locator("img").count() >= 1


def test_server_stage_report_verdict_first_then_sol_and_health(run_dir, browser):
    page = _open(browser, run_dir / "03_server_perf" / "03_server_perf.html", "report-03_server_perf.png")
    body = page.inner_text("body")
    verdict_at = min(i for i in (body.find("INVALID"), body.find("VALID")) if i >= 0)
    sections = ["Key metrics", "Load-generator health", "Speed of light (physical floors)", "Metric crosswalk"]
    positions = [body.find(s) for s in sections]
    assert all(p > verdict_at for p in positions), (verdict_at, positions)
    assert "progress issued=" not in body  # the harness's log lines stay out of the report
    for text in ("Speed of light (physical floors)", "Load-generator health", "Metric crosswalk", "bytes per decode step", "measured"):
        assert _visible(page, text), text
    assert "The load generator kept up" in body or "CLIENT-LIMITED" in body
    alts = page.evaluate("[...document.images].map(i => i.alt)")
    for chart in ("Time to first token", "Time per output token", "Load-generator lag"):
        assert any(chart in a for a in alts), (chart, alts)


def test_accuracy_stage_report_has_the_token_audit(run_dir, browser):
    page = _open(browser, run_dir / "02_offline_accuracy" / "02_offline_accuracy.html", "report-02_offline_accuracy.png")
    assert _visible(page, "Token audit")
    body = page.inner_text("body")
    assert "n_tokens equals the tokens in the response" in body and "dataset reference outputs" in body
    assert any("Output length" in a for a in page.evaluate("[...document.images].map(i => i.alt)"))
