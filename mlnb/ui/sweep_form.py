"""The launcher's sweep section: ``mlnb sweep`` from a form, with Stop and Resume.

The preset, backend and parameters come from the launcher's run form (they become the sweep's
``--set`` values); this section adds the stage to sweep, the sweep kind (max-VALID-QPS search, a
rate ladder, or a closed-loop concurrency ladder for the openai backend), SLOs and repeats.

:func:`sweep_cli_args` turns the choices into ``mlnb sweep`` arguments and :func:`check_sweep`
runs the checks ``mlnb sweep`` runs before it creates a folder, so a bad value is refused beside
its field with the CLI's own line. :class:`SweepProcess` runs the sweep like the launcher runs
``mlnb run``: its own process group, Stop sends SIGINT (the sweep keeps its finished points and
exits 130), and Resume starts ``mlnb sweep --resume FOLDER``.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from mlnb.ui.form import FormProblem, show_field_notes
from mlnb.ui.run_process import EXIT_MEANING, RunProcess, link_path

__all__ = [
    "SWEEP_KINDS",
    "SweepChoices",
    "SweepProcess",
    "SweepSection",
    "check_sweep",
    "sweep_cli_args",
    "sweep_links_html",
]

# The form's kinds, in the order shown, and the CLI option each one becomes.
SWEEP_KINDS = {"search": "max VALID QPS search", "rates": "rate ladder", "concurrency": "concurrency ladder (openai)"}
DEFAULT_STAGE = ""  # empty: the CLI's default stage for the kind
SWEEP_FIELDS = ("stage", "kind", "start_qps", "tolerance", "rates", "concurrency", "repeats", "slo_ttft", "slo_tpot",
                "trial_duration_ms")
_SWEEP_LINE = "sweep: "
_PAGE_LINE = "page: "


@dataclass(frozen=True)
class SweepChoices:
    """What the sweep section holds, as typed (text fields stay text until checked)."""

    preset: str
    kind: str  # a key of SWEEP_KINDS
    sets: tuple[str, ...] = ()  # KEY=VALUE from the run form (backend, samples, ...)
    stage: str = DEFAULT_STAGE
    start_qps: str = ""
    tolerance: str = ""
    rates: str = ""
    concurrency: str = ""
    repeats: str = ""
    slo_ttft: str = ""  # with a unit: 500ms, 0.5s
    slo_tpot: str = ""
    trial_duration_ms: str = ""
    confirm: bool = False
    curve_only: bool = False  # keep the preset's min_query_count: short points that cannot pass early stopping
    extra: tuple[str, ...] = ()  # more `mlnb sweep` options (e.g. --factor 1.5), passed as they are


def sweep_cli_args(c: SweepChoices) -> list[str]:
    """``mlnb sweep`` arguments (without ``--outputs``); only the kind's own options, empty fields left out."""
    if c.kind not in SWEEP_KINDS:
        raise ValueError(f"unknown sweep kind {c.kind!r}; one of {', '.join(SWEEP_KINDS)}")
    args = ["--preset", c.preset]
    if c.stage.strip():
        args += ["--stage", c.stage.strip()]
    for item in c.sets:
        args += ["--set", item]
    if c.kind == "search":
        args.append("--search")
        if c.start_qps.strip():
            args += ["--start-qps", c.start_qps.strip()]
        if c.tolerance.strip():
            args += ["--tolerance", c.tolerance.strip()]
        if c.confirm:
            args.append("--confirm")
    else:
        args += [f"--{c.kind}", (c.rates if c.kind == "rates" else c.concurrency).strip()]
        if c.repeats.strip():
            args += ["--repeats", c.repeats.strip()]
    for name, value in (("ttft", c.slo_ttft), ("tpot", c.slo_tpot)):
        if value.strip():
            args += ["--slo", f"{name}={value.strip()}"]
    if c.trial_duration_ms.strip():
        args += ["--trial-duration-ms", c.trial_duration_ms.strip()]
    if c.curve_only:
        args.append("--no-early-stopping-sizing")
    return [*args, *c.extra]


def _number(text: str, convert, name: str, option: str):
    text = text.strip()
    if not text:
        return None
    try:
        return convert(text)
    except ValueError:
        kind = "a whole number" if convert is int else "a number"
        raise _FieldError(name, f"error: {option} {text!r}: must be {kind}") from None


class _FieldError(Exception):
    def __init__(self, name: str, text: str):
        super().__init__(text)
        self.name, self.text = name, text


def field_of_sweep_error(where: str) -> Optional[str]:
    """The sweep field an ``InputError.where`` names, or None (the preset, a parameter, the form as a whole)."""
    for prefix, name in (("--rates", "rates"), ("--concurrency", "concurrency"), ("--tolerance", "tolerance"),
                         ("--start-qps", "start_qps"), ("--repeats", "repeats"), ("--stage", "stage"),
                         ("--trial-duration-ms", "trial_duration_ms"),
                         ("--slo 'ttft", "slo_ttft"), ("--slo 'tpot", "slo_tpot")):
        if where.startswith(prefix):
            return name
    return None


def check_sweep(c: SweepChoices) -> Optional[FormProblem]:
    """None when ``mlnb sweep`` would start; else its error line and the field it concerns.

    The same checks the CLI makes before it creates the sweep's folder (options, then the plan of
    the first point); nothing is written.
    """
    from mlnb.cli import error_line
    from mlnb.errors import InputError
    from mlnb.sweep.plan import check_spec
    from mlnb.sweep.session import spec_from_options

    if c.kind == "rates" and not c.rates.strip():
        return FormProblem("error: --rates: give target_qps values such as 1,2,4", "rates", needed=True,
                           detail="target_qps values such as 1,2,4 or geom:1:16:5")
    if c.kind == "concurrency" and not c.concurrency.strip():
        return FormProblem("error: --concurrency: give requests in flight such as 1,2,4", "concurrency", needed=True,
                           detail="requests in flight such as 1,2,4 or geom:1:64:7")
    try:
        start_qps = _number(c.start_qps, float, "start_qps", "--start-qps") if c.kind == "search" else None
        tolerance = _number(c.tolerance, float, "tolerance", "--tolerance") if c.kind == "search" else None
        repeats = _number(c.repeats, int, "repeats", "--repeats") if c.kind != "search" else None
        duration = _number(c.trial_duration_ms, int, "trial_duration_ms", "--trial-duration-ms")
    except _FieldError as err:
        return FormProblem(err.text, err.name, detail=err.text.removeprefix("error: "))
    if duration is not None and duration <= 0:
        return FormProblem(f"error: --trial-duration-ms {duration}: must be greater than 0", "trial_duration_ms")
    slos = [f"{name}={value.strip()}" for name, value in (("ttft", c.slo_ttft), ("tpot", c.slo_tpot)) if value.strip()]
    options = dict(
        preset=c.preset, stage=c.stage.strip() or None, sets=list(c.sets), search=c.kind == "search",
        rates=c.rates if c.kind == "rates" else None, concurrency=c.concurrency if c.kind == "concurrency" else None,
        confirm=c.confirm and c.kind == "search", slos=slos, trial_duration_ms=duration,
        size_for_early_stopping=not c.curve_only,
    )
    options.update({k: v for k, v in (("start_qps", start_qps), ("tolerance", tolerance), ("repeats", repeats))
                    if v is not None})
    try:
        check_spec(spec_from_options(**options))
    except InputError as err:
        return FormProblem(error_line(err), field_of_sweep_error(err.where), detail=err.problem)
    return None


# ---------------------------------------------------------------------------------------------
# The sweep as a process
# ---------------------------------------------------------------------------------------------


class SweepProcess(RunProcess):
    """``python -m mlnb.cli sweep ARGS --outputs OUT`` in its own process group (Stop: SIGINT, exit 130).

    ``sweep_dir`` and ``page`` are read from the CLI's ``sweep: DIR`` and ``page: FILE`` lines.
    ``resume`` (a sweep folder) runs ``mlnb sweep --resume`` instead; its outputs folder is its own.
    """

    def __init__(self, args: Sequence[str], outputs: Path, resume: Optional[Path] = None, cwd: Optional[Path] = None,
                 on_line: Optional[Callable[[str], None]] = None, on_exit: Optional[Callable[[int], None]] = None):
        super().__init__(args, outputs, cwd=cwd, on_line=self._seen, on_exit=on_exit)
        self.argv = [sys.executable, "-m", "mlnb.cli", "sweep",
                     *(["--resume", str(resume)] if resume is not None else [*args, "--outputs", str(outputs)])]
        self.sweep_dir: Optional[Path] = Path(resume) if resume is not None else None
        self.page: Optional[Path] = None
        self._forward = on_line

    def _seen(self, line: str) -> None:
        if line.startswith(_SWEEP_LINE):
            self.sweep_dir = Path(line[len(_SWEEP_LINE):].strip())
        elif line.startswith(_PAGE_LINE):
            self.page = Path(line[len(_PAGE_LINE):].strip())
        if self._forward is not None:
            self._forward(line)


def sweep_links_html(sweep_dir: Path, base: Optional[Path] = None, exit_code: Optional[int] = None,
                     summary: Sequence[str] = ()) -> str:
    """A link to the sweep's page (relative to the notebook's folder), its status and the CLI's result lines."""
    from mlnb.fileio import read_json

    sweep_dir = Path(sweep_dir)
    status = EXIT_MEANING.get(exit_code, "ended")
    try:
        status = read_json(sweep_dir / "sweep.json").get("status", status)
    except (OSError, ValueError):
        pass
    color = {"finished": "#15803d", "interrupted": "#b45309"}.get(status, "#b91c1c")
    rel = link_path(sweep_dir, base)
    page = sweep_dir / "sweep.html"
    link = (f'<a class="mlnb-link-sweep" href="{html.escape(rel)}/sweep.html">sweep.html</a>' if page.is_file()
            else "no page was written")
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in summary)
    return (f'<div class="mlnb mlnb-sweep-result"><h3>Sweep {html.escape(sweep_dir.name)}: '
            f'<span style="color:{color}">{html.escape(str(status).upper())}</span></h3>'
            f'<p>folder <code>{html.escape(rel)}</code> \u00b7 open {link}</p>'
            + (f"<ul>{lines}</ul>" if lines else "") + "</div>")


# ---------------------------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------------------------

_STYLE = {"description_width": "190px"}
_LAYOUT = {"width": "520px"}
_RESULT_PREFIXES = ("highest VALID", "ladder:", "concurrency:", "interrupted:")


class SweepSection:
    """The sweep controls; ``form`` is the launcher's :class:`~mlnb.ui.form.ParamForm` (preset, backend, parameters).

    ``busy()`` says whether the launcher's own run is going (a sweep does not start beside it);
    ``on_running(flag)`` is told when a sweep starts and ends (the launcher's Run button follows it).
    """

    def __init__(self, form, outputs: Path, busy: Callable[[], bool] = lambda: False,
                 on_running: Optional[Callable[[bool], None]] = None):
        import ipywidgets as w

        from mlnb.stages.registry import STAGES

        self._w, self.form, self.outputs, self.busy, self.on_running = w, form, Path(outputs), busy, on_running
        loadgen = [n for n in STAGES.names() if STAGES.get(n).kind == "loadgen"]
        self.kind = w.ToggleButtons(options=[(label, key) for key, label in SWEEP_KINDS.items()], value="search",
                                    description="sweep", style=_STYLE)
        self.fields = {
            "stage": w.Dropdown(options=[("(default for the kind)", DEFAULT_STAGE), *[(n, n) for n in loadgen]],
                                value=DEFAULT_STAGE, description="stage", style=_STYLE, layout=_LAYOUT),
            "kind": self.kind,
            "start_qps": self._text("start QPS", "empty = the stage's target_qps"),
            "tolerance": self._text("tolerance", "empty = 0.05 (share of the QPS)"),
            "rates": self._text("rates", "e.g. 1,2,4,8 or geom:1:16:5"),
            "concurrency": self._text("requests in flight", "e.g. 1,2,4,8 or geom:1:64:7"),
            "repeats": self._text("repeats", "empty = 1 run per point"),
            "slo_ttft": self._text("TTFT limit (goodput)", "e.g. 500ms or 0.5s; empty = the scenario's"),
            "slo_tpot": self._text("TPOT limit (goodput)", "e.g. 50ms; empty = the scenario's"),
            "trial_duration_ms": self._text("trial duration (ms)", "empty = the preset's min_duration (concurrency: 0)"),
        }
        self.confirm = w.Checkbox(value=False, description="confirm the found QPS with the preset's durations",
                                  indent=False, layout={"margin": "0 0 0 195px"})
        self.curve_only = w.Checkbox(
            value=False, indent=False, layout={"margin": "0 0 0 195px"},
            description="curve only: keep the preset's query count (short points that cannot pass early stopping)")
        self.notes = {}
        self.rows = {}
        for name, widget in self.fields.items():
            widget.add_class(f"mlnb-sweep-{name}")
            widget.observe(self._changed, names="value")
            note = w.HTML("", layout={"margin": "0 0 0 8px", "flex": "1 1 auto"})
            note.add_class("mlnb-field-note")
            note.add_class(f"mlnb-note-sweep-{name}")
            self.notes[name] = note
            self.rows[name] = w.HBox([widget, note])
        self.confirm.observe(self._changed, names="value")
        self.curve_only.observe(self._changed, names="value")
        self.error = w.HTML()
        self.error.add_class("mlnb-error")
        self.start_button = w.Button(description="Start sweep", button_style="success", icon="play")
        self.start_button.add_class("mlnb-sweep-start")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="Stop the sweep: finished points are kept; Resume carries on")
        self.stop_button.add_class("mlnb-sweep-stop")
        self.resume_button = w.Button(description="Resume", icon="forward", disabled=True,
                                      tooltip="mlnb sweep --resume: carries on from the finished points")
        self.resume_button.add_class("mlnb-sweep-resume")
        self.status = w.HTML("")
        self.command = w.HTML("")
        self.log = w.Output(layout={"max_height": "220px", "overflow": "auto", "border": "1px solid #e5e7eb"})
        self.log.add_class("mlnb-sweep-log")
        self.result = w.Output()
        self.result.add_class("mlnb-sweep-result")
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.resume_button.on_click(lambda _b: self.resume())
        self.kind_box = w.VBox()
        self.process: Optional[SweepProcess] = None
        self.widget = w.VBox([
            w.HTML("<p>Sweeps one stage over load with the preset, backend and parameters above; each point is a "
                   "full LoadGen run, grouped in one folder with <code>sweep.html</code>.</p>"),
            self.rows["stage"], self.rows["kind"], self.kind_box,
            self.rows["slo_ttft"], self.rows["slo_tpot"], self.rows["trial_duration_ms"], self.curve_only,
            self.error,
            w.HBox([self.start_button, self.stop_button, self.resume_button, self.status]),
            self.command, w.HTML("<b>Sweep log</b>"), self.log, self.result,
        ])
        self.widget.add_class("mlnb-sweep")
        self._layout()
        self.refresh()

    def _text(self, description: str, placeholder: str):
        return self._w.Text(value="", placeholder=placeholder, description=description, continuous_update=False,
                            style=_STYLE, layout=_LAYOUT)

    def _layout(self) -> None:
        kind = self.kind.value
        names = {"search": ["start_qps", "tolerance"], "rates": ["rates", "repeats"],
                 "concurrency": ["concurrency", "repeats"]}[kind]
        self.kind_box.children = [self.rows[n] for n in names] + ([self.confirm] if kind == "search" else [])

    def _changed(self, change=None) -> None:
        if change is not None and change.get("owner") is self.kind:
            self._layout()
        self.refresh()

    # values ------------------------------------------------------------------------------------
    def choices(self) -> SweepChoices:
        f = self.fields
        return SweepChoices(
            preset=self.form.preset.value, kind=self.kind.value, sets=tuple(self.form.sets()), stage=f["stage"].value,
            start_qps=f["start_qps"].value, tolerance=f["tolerance"].value, rates=f["rates"].value,
            concurrency=f["concurrency"].value, repeats=f["repeats"].value, slo_ttft=f["slo_ttft"].value,
            slo_tpot=f["slo_tpot"].value, trial_duration_ms=f["trial_duration_ms"].value,
            confirm=self.confirm.value, curve_only=self.curve_only.value,
        )

    def set_values(self, **values) -> None:
        """Fill fields by name, as a user would; for scripts and tests."""
        for name, value in values.items():
            widget = {"confirm": self.confirm, "curve_only": self.curve_only}.get(name) or self.fields[name]
            widget.value = value

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def refresh(self) -> Optional[FormProblem]:
        """Check the section: a problem shows beside its field, or under the fields when it concerns none."""
        problem = check_sweep(self.choices())
        show_field_notes(self.notes, problem)
        general = problem is not None and problem.field is None
        self.error.value = (f'<div style="color:#b91c1c;font-family:monospace;white-space:pre-wrap">'
                            f'{html.escape(problem.text)}</div>' if general else "")
        self.start_button.disabled = problem is not None or self.running
        return problem

    # run ---------------------------------------------------------------------------------------
    def start(self) -> Optional[SweepProcess]:
        if self.running or self.busy() or self.refresh() is not None:
            return None
        return self._launch(SweepProcess(sweep_cli_args(self.choices()), self.outputs, on_line=self._line,
                                         on_exit=self._exit))

    def resume(self) -> Optional[SweepProcess]:
        done = self.process
        if self.running or self.busy() or done is None or done.sweep_dir is None:
            return None
        return self._launch(SweepProcess([], self.outputs, resume=done.sweep_dir, on_line=self._line, on_exit=self._exit))

    def _launch(self, process: SweepProcess) -> SweepProcess:
        import shlex

        self.process = process
        self.log.outputs = ()
        self.result.outputs = ()
        shown = " ".join(shlex.quote(a) for a in ["mlnb", *process.argv[3:]])
        self.command.value = f'<code style="font-size:0.85em;color:#6b7280">{html.escape(shown)}</code>'
        self.status.value = "<b>running</b>"
        self.start_button.disabled = self.resume_button.disabled = True
        self.stop_button.disabled = False
        process.start()
        if self.on_running is not None:
            self.on_running(True)
        return process

    def stop(self) -> None:
        if self.running:
            self.status.value = "<b>stopping ...</b> (the running point ends, finished points are kept)"
            self.stop_button.disabled = True
            self.process.stop()

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        return self.process.wait(timeout) if self.process is not None else None

    # callbacks (reader thread) -----------------------------------------------------------------
    def _line(self, line: str) -> None:
        self.log.append_stdout(line + "\n")

    def _exit(self, code: int) -> None:
        process = self.process
        meaning = EXIT_MEANING.get(code, f"ended with exit code {code}")
        if process is not None and process.stop_requested and code != 0:
            meaning = "interrupted" if code == 130 else f"stopped (exit code {code})"
        color = {"finished": "#15803d", "interrupted": "#b45309"}.get(meaning, "#b91c1c")
        self.status.value = f'<b style="color:{color}">{html.escape(meaning)}</b> (exit code {code})'
        self.stop_button.disabled = True
        sweep_dir = process.sweep_dir if process is not None else None
        if sweep_dir is not None and sweep_dir.is_dir():
            from IPython.display import HTML

            summary = [line for line in process.lines if line.startswith(_RESULT_PREFIXES) or " LoadGen runs, " in line]
            self.result.append_display_data(HTML(sweep_links_html(sweep_dir, exit_code=code, summary=summary)))
            self.resume_button.disabled = code == 0  # a finished sweep has nothing left to run
        self.refresh()
        if self.on_running is not None:
            self.on_running(False)
