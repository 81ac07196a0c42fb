"""The launcher and runs-browser notebooks in a real JupyterLab, driven by a real browser.

JupyterLab listens on loopback with a random token; Playwright drives Debian's chromium
(/usr/bin/chromium; no browser is downloaded). Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from urllib.parse import urlsplit
from pathlib import Path

import pytest

from mlnb.stages.registry import STAGES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
UI_NOTEBOOKS = ("00_launcher.ipynb", "runs_browser.ipynb")
RUN_TIMEOUT_MS = 240_000  # a two-stage sim run takes seconds alone, longer on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    def __init__(self, root: Path, port: int, token: str, proc: subprocess.Popen, log: Path):
        self.root, self.port, self.token, self.proc, self.log = root, port, token, proc, log

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    (root / "outputs").mkdir(parents=True)
    for name in UI_NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / name, root / name)
    shutil.copy(ROOT / "notebooks" / "00_launcher.ipynb", root / "launcher_stop.ipynb")  # a fresh kernel for Stop
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No "get Jupyter news?" toast over the page (nothing is fetched either way).
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), secrets.token_hex(16)
    # Nothing of this machine's Jupyter or IPython state (config, settings, saved workspaces with
    # their open tabs, user kernels, startup scripts) reaches the test: every folder is fresh.
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        IPYTHONDIR=str(base / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}", f"--LabApp.user_settings_dir={base / 'settings'}",
        "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = base / "jupyterlab.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(root, port, token, proc, log)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(server.url("api/status"), timeout=5) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("JupyterLab did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.5)
    yield server
    proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(log, ARTIFACTS / "jupyterlab.log")  # for a failure that only the server saw


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open_and_run_all(browser, lab: Lab, notebook: str, widget_class: str):
    """Open a notebook, run all its cells, and return (page, the widget's locator).

    Each notebook opens in a workspace of its own, so JupyterLab restores no tab an earlier test
    left open (the default workspace would reopen them all, with their kernels and widgets).
    """
    page = browser.new_page(viewport={"width": 1400, "height": 3000})  # the widgets fit: screenshots show all
    page.set_default_timeout(60_000)
    workspace = re.sub(r"[^A-Za-z0-9_-]", "-", Path(notebook).stem)
    page.goto(lab.url(f"lab/workspaces/{workspace}/tree/{notebook}"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    widget = page.locator(f".{widget_class}")
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    deadline = time.monotonic() + 180
    last_click, reruns = None, 0
    while not widget.first.is_visible():
        now = time.monotonic()
        if dialog.count() and dialog.first.is_visible():
            # A fresh JupyterLab may ask which kernel to start; the notebook's own (Python 3) is preselected.
            dialog.locator("button.jp-mod-accept").click()
            last_click = None  # a Run All issued while the dialog was up is dropped: issue it again
        elif last_click is None:
            # Only on a connected, idle kernel: the widget manager registers with the kernel when it
            # connects, and widgets created before that stay "Loading widget..." for good.
            if _kernel_idle(page):
                _run_all(page)
                last_click = now
        elif now - last_click > 15 and _some_cell_not_run(prompts):
            _run_all(page)  # Run All was dropped (the page was still settling)
            last_click = now
        elif now - last_click > 30 and reruns < 2 and _all_cells_ran(prompts) and _kernel_idle(page):
            # Every cell ran but the widget shows "Loading widget...": a person would run it again.
            warnings.warn(f"{notebook}: the widget stayed 'Loading widget...'; running the notebook again")
            _run_all(page)
            last_click, reruns = now, reruns + 1
        if now > deadline:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"failed-{Path(notebook).stem}.png"))
            pytest.fail(f"{notebook}: the widget did not appear (screenshot in test-artifacts/)")
        time.sleep(0.5)
    tabs = page.locator(".jp-MainAreaWidget-ContainerTab, #jp-main-dock-panel .lm-TabBar-tab").all_inner_texts()
    assert [t.strip() for t in tabs] == [notebook], f"tabs left open by earlier tests: {tabs}"
    return page, widget


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()


def _kernel_idle(page) -> bool:
    """The status bar says "Python 3 (ipykernel) | Idle"."""
    return "| Idle" in page.locator("#jp-main-statusbar").inner_text()


def _all_cells_ran(prompts) -> bool:
    texts = [t.strip() for t in prompts.all_inner_texts()]
    return bool(texts) and all(re.fullmatch(r"\[\d+\]:", t) for t in texts)


def _some_cell_not_run(prompts) -> bool:
    """A code cell that has not run and none queued or running: Run All was dropped."""
    texts = [t.strip() for t in prompts.all_inner_texts()]
    return "[*]:" not in texts and "[ ]:" in texts


def _assert_links_resolve(page, links, expected: int) -> list[str]:
    """Every link is served by JupyterLab (the file exists); returns the hrefs."""
    assert links.count() == expected, f"expected {expected} links, found {links.count()}"
    hrefs = []
    for i in range(links.count()):
        href = links.nth(i).evaluate("a => a.href")  # resolved against the page, as a click would
        assert href, "a link without href"
        reply = page.request.get(href)
        assert reply.status == 200, (href, reply.status)
        hrefs.append(href)
    return hrefs


def _run_dirs(lab: Lab) -> set[Path]:
    return {p for p in (lab.root / "outputs").iterdir() if p.is_dir() and not p.is_symlink()}


def _choose(launcher, stages=("01_offline_perf", "99_run_summary"), **values) -> None:
    """Pick the sim backend and the stages, and fill fields by their labels."""
    launcher.get_by_label("backend", exact=True).select_option("sim")
    for name in STAGES.names():  # every stage the form offers, so a stage added later is unchecked too
        launcher.get_by_label(name, exact=True).set_checked(name in stages)
    for name, value in values.items():
        field = launcher.get_by_label(name, exact=True)  # the sim settings show once sim is chosen
        field.fill(value)
        field.press("Tab")


def _cli_error(args: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_launcher_runs_the_pipeline(lab, browser):
    started = time.monotonic()
    page, launcher = _open_and_run_all(browser, lab, "00_launcher.ipynb", "mlnb-launcher")

    before = _run_dirs(lab)
    _choose(launcher, sim_tpot_ms="1", sim_ttft_ms="5")

    # A bad value is refused with the CLI's own message, and Run is disabled.
    samples = launcher.get_by_label("samples", exact=True)
    samples.fill("0")
    samples.press("Tab")
    error = launcher.locator(".mlnb-error")
    expected = _cli_error(["--preset", "smoke", "--stages", "01_offline_perf,99_run_summary",
                           "--set", "backend=sim", "--set", "samples=0"])
    assert "samples" in expected and expected.startswith("error: ")
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel) && document.querySelector(sel).innerText.trim() === text",
        arg=[".mlnb-launcher .mlnb-error", expected],
    )
    run_button = launcher.locator("button.mlnb-run")
    # widget updates reach the page one message at a time: wait for the button's, not only the note's
    page.wait_for_function("sel => document.querySelector(sel).disabled", arg=".mlnb-launcher button.mlnb-run")

    samples.fill("4")
    samples.press("Tab")
    page.wait_for_function(
        "sel => document.querySelector(sel) && document.querySelector(sel).innerText.trim() === ''",
        arg=".mlnb-launcher .mlnb-error",
    )
    page.wait_for_function("sel => !document.querySelector(sel).disabled", arg=".mlnb-launcher button.mlnb-run")
    run_button.click()

    status = launcher.locator(".mlnb-status")
    page.wait_for_function(
        "sel => /finished|failed|interrupted|exit code/.test(document.querySelector(sel).innerText)",
        arg=".mlnb-launcher .mlnb-status",
        timeout=RUN_TIMEOUT_MS,
    )
    result = launcher.locator(".mlnb-result")
    result.locator("a.mlnb-link-index").wait_for(timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "launcher.png"), full_page=True)
    launcher.screenshot(path=str(ARTIFACTS / "launcher-widget.png"))
    assert "finished" in status.inner_text(), launcher.locator(".mlnb-log").inner_text()

    # The run's folder, run.json and index exist.
    runs = _run_dirs(lab) - before
    assert len(runs) == 1, runs
    run_dir = runs.pop()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    assert (run_dir / "index.html").is_file()
    assert (run_dir / "01_offline_perf" / "summary.json").is_file()

    # Progress bars: the offline stage completed its 4 queries.
    offline_bar = launcher.locator(".mlnb-progress-01_offline_perf")
    assert re.search(r"4/4 queries", offline_bar.inner_text()), offline_bar.inner_text()

    # The links in the notebook point at files JupyterLab serves.
    hrefs = _assert_links_resolve(page, result.locator("a.mlnb-link-index"), 1)
    assert urlsplit(hrefs[0]).path.endswith(f"/outputs/{run_dir.name}/index.html"), hrefs
    _assert_links_resolve(page, result.locator("a.mlnb-link-stage"), 2)
    # The key numbers table lists the stages with their verdict.
    table = result.locator("table.stages")
    assert "01_offline_perf" in table.inner_text() and "VALID" in table.inner_text()

    # Clicking the index link opens it inside JupyterLab.
    result.locator("a.mlnb-link-index").click()
    page.locator(".lm-TabBar-tab", has_text="index.html").first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "launcher-index-opened.png"))
    page.close()
    assert time.monotonic() - started < 300


@pytest.fixture(scope="module")
def two_runs(lab):
    """Two finished sim runs (Offline and Server) in the lab's outputs folder, made with the CLI at once."""
    procs = {}
    for tpot in ("1", "3"):
        procs[tpot] = subprocess.Popen(
            [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--backend", "sim", "--samples", "4",
             "--stages", "01_offline_perf,03_server_perf",
             "--set", f"sim_tpot_ms={tpot}", "--set", "sim_ttft_ms=5",
             "--set", "03_server_perf.target_qps=20", "--set", "03_server_perf.min_duration_ms=2000",
             "--outputs", str(lab.root / "outputs"), "--run-id", f"browser-tpot{tpot}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        )
    for proc in procs.values():
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output
    return [lab.root / "outputs" / f"browser-tpot{tpot}" for tpot in procs]


def test_runs_browser_lists_compares_and_replots(lab, browser, two_runs):
    started = time.monotonic()
    page, browser_widget = _open_and_run_all(browser, lab, "runs_browser.ipynb", "mlnb-runs-browser")
    table = browser_widget.locator(".mlnb-runs-table")
    for run in two_runs:
        assert run.name in table.inner_text()
    assert "sim" in table.inner_text() and "smoke" in table.inner_text()

    labels = [label for label in browser_widget.locator(".mlnb-runs-select option").all_inner_texts()
              if label.startswith("browser-tpot")]
    assert len(labels) == 2, labels
    browser_widget.locator(".mlnb-runs-select select").select_option(label=labels)

    browser_widget.get_by_role("button", name="Compare").click()
    compare = browser_widget.locator(".mlnb-runs-output table.compare")
    compare.wait_for(timeout=60_000)
    text = compare.inner_text()
    assert "tokens/s" in text and "TTFT p99 ms" in text
    assert all(run.name in text for run in two_runs)
    browser_widget.locator(".mlnb-runs-output img").first.wait_for(timeout=60_000)

    # Re-plot: Server stage, TTFT at p90, from saved data.
    browser_widget.get_by_label("run", exact=True).select_option(label=labels[0])
    browser_widget.get_by_label("stage", exact=True).select_option("03_server_perf")
    browser_widget.get_by_label("metric", exact=True).select_option(label="TTFT (ms)")
    browser_widget.get_by_label("percentile", exact=True).select_option(label="p90")
    plot = browser_widget.locator(".mlnb-plot-output")
    page.wait_for_function(
        "sel => document.querySelector(sel) && /p90 reported by LoadGen/.test(document.querySelector(sel).innerText)",
        arg=".mlnb-runs-browser .mlnb-plot-output",
    )
    plot.locator("img").wait_for(timeout=60_000)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs_browser.png"), full_page=True)
    browser_widget.screenshot(path=str(ARTIFACTS / "runs_browser-widget.png"))

    # Open reports: links to each chosen run's index and stage reports, all served.
    browser_widget.get_by_role("button", name="Open reports").click()
    output = browser_widget.locator(".mlnb-runs-output")
    output.locator("a.mlnb-link-index").first.wait_for(timeout=60_000)
    _assert_links_resolve(page, output.locator("a.mlnb-link-index"), 2)
    _assert_links_resolve(page, output.locator("a.mlnb-link-stage"), 4)
    page.close()
    assert time.monotonic() - started < 300


def test_launcher_stop_button(lab, browser):
    started = time.monotonic()
    before = _run_dirs(lab)
    page, launcher = _open_and_run_all(browser, lab, "launcher_stop.ipynb", "mlnb-launcher")
    # 8 queries one at a time, about 2.5 s each: long enough to stop mid-stage.
    _choose(launcher, samples="8", sim_tpot_ms="20", sim_max_batch="1", min_query_count="8")
    launcher.locator("button.mlnb-run").click()
    page.wait_for_function(  # a query done, so the bar shows partial progress when it stops
        "sel => document.querySelector(sel) && /[1-7]\\/8 queries/.test(document.querySelector(sel).innerText)",
        arg=".mlnb-launcher .mlnb-progress-01_offline_perf",
        timeout=RUN_TIMEOUT_MS,
    )
    launcher.locator("button.mlnb-stop").click()
    page.wait_for_function(
        "sel => /interrupted|finished|failed|exit code/.test(document.querySelector(sel).innerText)",
        arg=".mlnb-launcher .mlnb-status",
        timeout=180_000,
    )
    result = launcher.locator(".mlnb-result")
    result.locator("a.mlnb-link-index").wait_for(timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    launcher.screenshot(path=str(ARTIFACTS / "launcher-stopped-widget.png"))
    status = launcher.locator(".mlnb-status").inner_text()
    assert "interrupted" in status and "130" in status, status
    assert "INTERRUPTED" in result.inner_text()
    bar = launcher.locator(".mlnb-progress-01_offline_perf").inner_text()
    assert re.search(r"[1-8]/8 queries .* interrupted", bar), bar

    runs = _run_dirs(lab) - before
    assert len(runs) == 1, runs
    run_dir = runs.pop()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["stage_status"] == {"01_offline_perf": "interrupted"}
    assert "progress issued=" in (run_dir / "01_offline_perf" / "harness.log").read_text()
    assert (run_dir / "01_offline_perf" / "stage.log").is_file()
    _assert_links_resolve(page, result.locator("a.mlnb-link-index"), 1)
    page.close()
    assert time.monotonic() - started < 300
