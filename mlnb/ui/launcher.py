"""The launcher notebook's widget: a parameter form, Run and Stop, live progress, the results.

``notebooks/00_launcher.ipynb`` calls :func:`launcher`. Run starts ``mlnb run`` as a separate
process (:class:`~mlnb.ui.run_process.RunProcess`), so the kernel stays free and the form keeps working while the run
goes on. The process prints its stages' progress as ``[stage] progress ...`` lines
(``--progress-lines``); they drive one progress bar per stage, and every other line goes to the
log area. Stop sends SIGINT to the run's process group: the pipeline stops the running stage,
marks the run "interrupted" in run.json and keeps its logs (SIGTERM, then SIGKILL, follow only if
it does not end). When the run ends, the widget links its index and stage reports and shows
their key numbers. Below it, a sweep section (:mod:`mlnb.ui.sweep_form`) runs ``mlnb sweep`` the
same way.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Optional

from mlnb.ui.progress import CliEvent, StageProgress, parse_cli_line
from mlnb.ui.run_process import EXIT_MEANING, RunProcess, link_path

__all__ = ["Launcher", "RunProcess", "launcher", "resolve_outputs_dir", "run_links_html"]


def resolve_outputs_dir(outputs_dir: str | os.PathLike = "outputs") -> Path:
    """The outputs folder for a notebook's ``outputs_dir`` parameter.

    A relative path is taken from the workspace the kernel runs in (its folder or one above it, see
    :mod:`mlnb.workspace`), so a launcher in ``WORKSPACE/notebooks`` writes to ``WORKSPACE/outputs``,
    never to ``notebooks/outputs``; outside any workspace, from the kernel's folder.
    """
    from mlnb.workspace import find_workspace

    path = Path(outputs_dir).expanduser()
    if path.is_absolute():
        return path
    workspace = find_workspace()
    return (workspace if workspace is not None else Path.cwd()) / path


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def run_links_html(run_dir: Path, base: Optional[Path] = None, exit_code: Optional[int] = None) -> str:
    """Links to a run's index and stage reports, and the table of its stages' key numbers."""
    from mlnb.fileio import read_json
    from mlnb.report.run_index import collect_run, stage_table_html
    from mlnb.report.stage_view import style_tag

    run_dir = Path(run_dir)
    rel = link_path(run_dir, base)
    rollup, _ = collect_run(run_dir)
    status = rollup.get("status") or EXIT_MEANING.get(exit_code, "ended")
    try:
        status = read_json(run_dir / "run.json").get("status", status)
    except (OSError, ValueError):
        pass
    links = []
    if (run_dir / "index.html").is_file():
        links.append(f'<a class="mlnb-link-index" href="{html.escape(rel)}/index.html">index.html</a>')
    for record in rollup.get("stages") or []:
        report = (record.get("files") or {}).get("report")
        if report:
            links.append(
                f'<a class="mlnb-link-stage" href="{html.escape(rel)}/{html.escape(report)}">{html.escape(record["stage"])}</a>'
            )
    color = {"finished": "#15803d", "failed": "#b91c1c", "interrupted": "#b45309"}.get(status, "#6b7280")
    separator = " \u00b7 "
    head = (
        f'<h3>Run {html.escape(rollup["run_id"])}: <span style="color:{color}">{html.escape(str(status).upper())}</span></h3>'
        f'<p class="sub">folder <code>{html.escape(rel)}</code></p>'
        + (f"<p>Open: {separator.join(links)}</p>" if links else "<p>No report was written.</p>")
    )
    table = stage_table_html(rollup, link_prefix=rel + "/")
    # The table scrolls sideways rather than being cut off in a narrow notebook.
    return style_tag() + f'<div class="mlnb mlnb-run-result">{head}<div style="overflow-x:auto">{table}</div></div>'


# ---------------------------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------------------------


class _StageBar:
    def __init__(self, w, stage: str):
        self.label = w.Label(stage, layout={"width": "190px", "flex": "0 0 190px"})
        self.bar = w.IntProgress(value=0, min=0, max=1, layout={"width": "320px", "flex": "0 0 320px"})
        # HTML, not Label: a Label cuts a long line (a stopped stage's note) off at the widget's edge.
        self.text = w.HTML("waiting", layout={"flex": "1 1 auto", "margin": "0 0 0 8px"})
        self.row = w.HBox([self.label, self.bar, self.text])
        self.row.add_class(f"mlnb-progress-{stage}")
        self.last = StageProgress(stage)

    def show(self, progress: StageProgress) -> None:
        value, top = progress.bar()  # not "completed of issued": a Server stage's queries keep coming
        self.bar.max = top
        self.bar.value = value
        self.bar.bar_style = {"running": "info", "finished": "success", "failed": "danger", "interrupted": "warning"}.get(
            progress.state, ""
        )
        self.text.value = html.escape(progress.describe())
        self.last = progress

    def finish(self, status: str, text: str) -> None:
        last = self.last
        self.show(StageProgress(last.stage, status, last.issued, last.completed, last.tokens, last.tokens_per_s,
                                last.elapsed_s, last.total))
        if text.startswith("stopped; logs kept in "):
            text = "stopped; logs kept in the run folder"  # its path is in the log and the links below
        if text:  # the stage's result line from the CLI, e.g. "VALID (simulated), 3100.0 tokens/s" (LoadGen's)
            parts = [f"{last.completed}/{max(last.issued, last.completed)} queries"] if last.issued else []
            parts += [f"{last.elapsed_s:.0f} s"] if last.elapsed_s else []
            self.text.value = html.escape(" \u00b7 ".join([*parts, status]) + f" \u2014 {text}")


class Launcher:
    """The launcher widget; display :attr:`widget` (or the object itself) in a notebook."""

    def __init__(self, outputs_dir: str | os.PathLike = "outputs", preset: str = "smoke"):
        import ipywidgets as w

        from mlnb.ui.form import ParamForm

        self._w = w
        self.outputs = resolve_outputs_dir(outputs_dir)
        self.form = ParamForm(preset, on_change=self._refresh)
        self.error = w.HTML()
        self.error.add_class("mlnb-error")
        self.run_button = w.Button(description="Run", button_style="success", icon="play", tooltip="Start mlnb run")
        self.run_button.add_class("mlnb-run")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="Stop the run: it is marked interrupted, its logs are kept")
        self.stop_button.add_class("mlnb-stop")
        self.status = w.HTML("")
        self.status.add_class("mlnb-status")
        self.command = w.HTML("")
        self.bars_box = w.VBox()
        self.log = w.Output(layout={"max_height": "220px", "overflow": "auto", "border": "1px solid #e5e7eb"})
        self.log.add_class("mlnb-log")
        self.result = w.Output()
        self.result.add_class("mlnb-result")
        self.run_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.process: Optional[RunProcess] = None
        self.bars: dict[str, _StageBar] = {}
        from mlnb.ui.sweep_form import SweepSection

        # A sweep takes its preset, backend and parameters from the form above; one process at a time.
        self.sweep = SweepSection(self.form, self.outputs, busy=lambda: self.process is not None and self.process.running,
                                  on_running=lambda _flag: self._refresh())
        self.sweep_panel = w.Accordion(children=[self.sweep.widget])
        self.sweep_panel.set_title(0, "Sweep (mlnb sweep): the highest VALID QPS, rate or concurrency ladders")
        self.sweep_panel.selected_index = None
        self.widget = w.VBox(
            [
                w.HTML(
                    "<h2>mlnb launcher</h2><p>Choose a preset, stages and parameters, then Run. Empty fields keep the "
                    "preset's value or the default. Runs go to <code>" + html.escape(str(self.outputs)) + "</code>.</p>"
                ),
                self.form.widget,
                self.error,
                w.HBox([self.run_button, self.stop_button, self.status]),
                self.command,
                self.bars_box,
                w.HTML("<b>Log</b>"),
                self.log,
                self.result,
                self.sweep_panel,
            ]
        )
        self.widget.add_class("mlnb-launcher")
        self._refresh()

    def _ipython_display_(self):  # noqa: D401 - IPython hook
        from IPython.display import display

        display(self.widget)

    # form state --------------------------------------------------------------------------------
    def _refresh(self) -> Optional[str]:
        """Check the form: a problem shows beside its field (or here, when it concerns no one field)."""
        problem = self.form.check_problem()
        self.form.show_problem(problem)
        general = problem is not None and problem.field is None
        self.error.value = (
            f'<div style="color:#b91c1c;font-family:monospace;white-space:pre-wrap">{html.escape(problem.text)}</div>'
            if general else ""
        )
        running = self.process is not None and self.process.running
        sweep = getattr(self, "sweep", None)  # None while the widget is being built
        # The button first, in the same update as the notes; the sweep section's own checks take longer.
        self.run_button.disabled = problem is not None or running or (sweep is not None and sweep.running)
        if sweep is not None:
            sweep.refresh()
        return problem.text if problem is not None else None

    # run ---------------------------------------------------------------------------------------
    def start(self) -> Optional[RunProcess]:
        if (self.process is not None and self.process.running) or self.sweep.running:
            return None
        if self._refresh():
            return None
        args = self.form.cli_args()
        self.bars = {stage: _StageBar(self._w, stage) for stage in self.form.stages()}
        self.bars_box.children = [w.row for w in self.bars.values()]
        self.log.outputs = ()
        self.result.outputs = ()
        shown = " ".join(_quote(a) for a in ["mlnb", "run", *args, "--outputs", str(self.outputs)])
        self.command.value = f'<code style="font-size:0.85em;color:#6b7280">{html.escape(shown)}</code>'
        self.process = RunProcess(args, self.outputs, on_line=self._line, on_event=self._event, on_exit=self._exit)
        self.status.value = "<b>running</b>"
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.process.start()
        return self.process

    def stop(self) -> None:
        if self.process is not None and self.process.running:
            self.status.value = "<b>stopping ...</b>"
            self.stop_button.disabled = True
            self.process.stop()

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        return self.process.wait(timeout) if self.process is not None else None

    # callbacks (reader thread) -----------------------------------------------------------------
    def _line(self, line: str) -> None:
        event = parse_cli_line(line)
        if event is not None and event.kind == "progress":
            return  # they drive the bars; the log keeps the stage lines
        self.log.append_stdout(line + "\n")

    def _event(self, event: CliEvent) -> None:
        bar = self.bars.get(event.stage or "")
        if event.kind == "start" and bar is not None:
            bar.show(StageProgress(event.stage, state="running"))
            self.status.value = f"<b>running</b> {html.escape(event.stage)}"
        elif event.kind == "progress" and bar is not None and event.progress is not None:
            bar.show(event.progress)
        elif event.kind == "end" and bar is not None:
            bar.finish(event.status or "failed", event.text)

    def _exit(self, code: int) -> None:
        meaning = EXIT_MEANING.get(code, f"ended with exit code {code}")
        if self.process is not None and self.process.stop_requested and code != 0:
            meaning = "interrupted" if code == 130 else f"stopped (exit code {code})"
        for bar in self.bars.values():
            if bar.text.value in ("waiting",):
                bar.text.value = "not run"
        color = {"finished": "#15803d", "interrupted": "#b45309"}.get(meaning, "#b91c1c")
        self.status.value = f'<b style="color:{color}">{html.escape(meaning)}</b> (exit code {code})'
        self.stop_button.disabled = True
        run_dir = self.process.run_dir if self.process is not None else None
        if run_dir is not None and run_dir.is_dir():
            from IPython.display import HTML

            # append_display_data, not `with self.result:` (which needs the cell's context, not a thread's)
            self.result.append_display_data(HTML(run_links_html(run_dir, exit_code=code)))
        self._refresh()


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def launcher(outputs_dir: str | os.PathLike = "outputs", preset: str = "smoke") -> Launcher:
    """Build the launcher for a notebook; it displays itself as the cell's result."""
    return Launcher(outputs_dir=outputs_dir, preset=preset)
