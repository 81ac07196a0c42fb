"""`mlnb compare` end to end on two real sim-backend runs, bad input through the CLI, and the page in chromium.

The two runs differ in one setting, the simulator's time per output token (1 ms against 3 ms), so
TPOT and latency must come out as a regression and TTFT, which did not change, as inconclusive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
PAGE_BUDGET_BYTES = 2_000_000  # small enough to mail: a comparison page must stay under 2 MB
# Two stages, short: Offline (16 samples) and Server at 100 QPS for 5 s (about 500 queries, enough
# for an interval of the p99, which needs 500 per run).
RUN_ARGS = [
    "--preset", "smoke", "--backend", "sim", "--stages", "01_offline_perf,03_server_perf", "--samples", "16",
    "--set", "max_new_tokens=32", "--set", "sim_ttft_ms=5",
    "--set", "03_server_perf.target_qps=100", "--set", "03_server_perf.min_duration_ms=5000",
    "--set", "03_server_perf.min_query_count=500",
]


def _mlnb(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlnb.cli", "run", *RUN_ARGS, "--set", f"sim_tpot_ms={tpot}",
                          "--outputs", str(out), "--run-id", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, tpot in (("base", 1), ("slower", 3))
    ]
    for proc in procs:  # both at once: most of a sim run is waiting, not computing
        log, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log
    return out


@pytest.fixture(scope="module")
def compared(two_runs):
    result = _mlnb("compare", two_runs / "base", two_runs / "slower")
    assert result.returncode == 0, result.stdout + result.stderr
    folders = [p for p in two_runs.iterdir() if p.name.startswith("compare-")]
    assert len(folders) == 1
    return folders[0], result


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_a_slower_decode_is_a_regression(compared):
    folder, result = compared
    assert "slower vs base: REGRESSION" in result.stdout
    data = json.loads((folder / "compare.json").read_text())
    assert data["overall"][0]["verdict"] == "regression"
    server = next(s for s in data["stages"] if s["stage"] == "03_server_perf")
    diffs = {(d["metric"], d["stat"]): d for d in server["comparisons"][0]["differences"]}
    tpot = diffs[("tpot_ms", "median")]
    assert tpot["verdict"] == "regression" and tpot["ci_low"] > 1.0  # 1 ms -> 3 ms per token
    assert diffs[("tpot_ms", "p99")]["verdict"] == "regression" and diffs[("tpot_ms", "p99")]["ci_low"] is not None
    assert diffs[("e2e_ms", "median")]["verdict"] == "regression"
    assert diffs[("ttft_ms", "median")]["verdict"] == "inconclusive"  # the first token's time did not change
    assert diffs[("tokens_per_second", "LoadGen")]["reason"] == "single run: no interval (3 repeats per side needed)"
    offline = next(s for s in data["stages"] if s["stage"] == "01_offline_perf")
    assert not any(d["metric"] == "ttft_ms" for d in offline["comparisons"][0]["differences"])  # Offline does not stream
    changed = {d["key"]: d for d in data["differences"]}
    assert changed["params.sim_tpot_ms"]["values"] == [1.0, 3.0] and changed["params.sim_tpot_ms"]["stage"] == "all stages"
    assert not any(d["blocking"] for d in data["differences"])


def test_the_folder_holds_json_notebook_and_html(compared):
    folder, _ = compared
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".log")) == ["compare.html", "compare.ipynb", "compare.json"]
    notebook = json.loads((folder / "compare.ipynb").read_text())
    outputs = [o for cell in notebook["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]
    assert outputs and not any(o.get("output_type") == "error" for o in outputs)
    html = (folder / "compare.html").read_text()
    assert "import mlnb" not in html and "REGRESSION" in html and "SIMULATED" in html
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", html)
    assert len(html.encode()) < PAGE_BUDGET_BYTES


def test_both_run_indexes_link_the_comparison(compared, two_runs):
    folder, _ = compared
    for run in ("base", "slower"):
        index = (two_runs / run / "index.html").read_text()
        hrefs = re.findall(r'href="([^"]*compare\.html)"', index)
        assert len(hrefs) == 1 and "<h2>Comparisons</h2>" in index
        assert ((two_runs / run) / hrefs[0]).resolve() == (folder / "compare.html").resolve()
    # A rebuilt index (`mlnb report`, a later stage) keeps the link.
    from mlnb.report.run_index import write_index

    (two_runs / "base" / "index.html").unlink()
    assert "compare.html" in write_index(two_runs / "base").read_text()


def _copy_run(two_runs: Path, tmp_path: Path, name: str, edit=None) -> Path:
    copy = tmp_path / name
    shutil.copytree(two_runs / "slower", copy)
    run = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**run, "run_id": name}))
    if edit:
        edit(copy)
    return copy


def _set_summary(stage: str, **values):
    def edit(folder: Path) -> None:
        path = folder / stage / "summary.json"
        summary = json.loads(path.read_text())
        summary.update(values)
        path.write_text(json.dumps(summary))
    return edit


@pytest.mark.parametrize("case, expected", [
    ("self", r"is the same run as"),
    ("latest", r"is the same run as"),
    ("model", r"different model: 'embedded' vs 'HuggingFaceTB/SmolLM2-360M-Instruct'.*--force"),
    ("no_run_json", r"run.json: missing: not a run folder"),
    ("no_summary", r"03_server_perf/summary.json: missing: the stage did not finish"),
    ("old_schema", r"summary.json field 'schema_version': absent: an older summary schema"),
    ("out_exists", r"already exists; comparisons are never overwritten"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(two_runs, tmp_path, case, expected):
    base = two_runs / "base"
    other = {
        "self": lambda: base,
        "latest": lambda: two_runs / "latest",
        "model": lambda: _copy_run(two_runs, tmp_path, "m", lambda f: [
            _set_summary(s, model="HuggingFaceTB/SmolLM2-360M-Instruct")(f) for s in ("01_offline_perf", "03_server_perf")]),
        "no_run_json": lambda: _copy_run(two_runs, tmp_path, "n", lambda f: (f / "run.json").unlink()),
        "no_summary": lambda: _copy_run(two_runs, tmp_path, "s", lambda f: (f / "03_server_perf" / "summary.json").unlink()),
        "old_schema": lambda: _copy_run(two_runs, tmp_path, "o", lambda f: _edit_drop_schema(f)),
        "out_exists": lambda: two_runs / "slower",
    }[case]()
    if case == "latest":  # outputs/latest is a link to one of the two runs: the same run under another name
        base = (two_runs / "latest").resolve()
    extra = ["--out", tmp_path] if case == "out_exists" else []
    before = {"outputs": _snapshot(two_runs), "tmp": _snapshot(tmp_path)}
    result = _mlnb("compare", base, other, *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(expected, lines[0]), result.stderr
    assert "Traceback" not in result.stderr
    assert {"outputs": _snapshot(two_runs), "tmp": _snapshot(tmp_path)} == before


def _edit_drop_schema(folder: Path) -> None:
    path = folder / "03_server_perf" / "summary.json"
    summary = json.loads(path.read_text())
    summary.pop("schema_version")
    path.write_text(json.dumps(summary))


def test_force_compares_different_models_and_says_so(two_runs, tmp_path):
    from mlnb.compare.output import compute_comparison

    other = _copy_run(two_runs, tmp_path, "m", _set_summary("03_server_perf", model="HuggingFaceTB/SmolLM2-360M-Instruct"))
    comparison, _ = compute_comparison([two_runs / "base", other], force=True)
    assert comparison["forced"] is True
    assert comparison["differences"][0] == {
        "stage": "03_server_perf", "key": "model", "category": "model",
        "values": ["embedded", "HuggingFaceTB/SmolLM2-360M-Instruct"], "blocking": True,
    }


def test_the_page_in_chromium(compared):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (`make browser` installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    folder, _ = compared
    page_path = folder / "compare.html"
    fetched: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            banner = page.locator('[data-verdict="regression"]')
            assert banner.count() == 1 and banner.is_visible()
            assert "REGRESSION" in banner.inner_text() and "03_server_perf: TPOT median" in banner.inner_text()
            body = page.locator("body").inner_text()
            assert "SIMULATED" in body and "Are the runs comparable?" in body and "params.sim_tpot_ms" in body
            pills = page.locator(".vpill")
            assert {"REGRESSION", "INCONCLUSIVE"} <= set(pills.all_inner_texts())
            images = page.locator("img")
            assert images.count() >= 3  # the differences chart and one distribution chart per stage
            for i in range(images.count()):
                image = images.nth(i)
                image.scroll_into_view_if_needed()
                assert image.evaluate("img => img.complete && img.naturalWidth > 0"), image.get_attribute("alt")
                assert image.is_visible() and image.get_attribute("alt")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "compare_page.png"), full_page=True)
        finally:
            browser.close()
    external = [url for url in fetched if not url.startswith(("file:", "data:"))]
    assert external == [], external
    assert [url for url in fetched if url.startswith("file:")] == [page_path.resolve().as_uri()]
