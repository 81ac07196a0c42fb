"""Per-stage progress: read from a stage's ``harness.log``, shown as bars or printed as lines.

The harness (``python -m mlnb.harness``) prints ``progress issued=.. completed=.. tokens=..
tok/s=.. elapsed=..s [total=..]`` every 2 s (``total``: the samples LoadGen will issue, once it has
generated its schedule) and ``finished: N queries, T tokens in Ws, E SUT errors`` at the
end; the stage notebook copies every line into ``<stage>/harness.log`` as it arrives. The CLI
runs notebooks through papermill, so the harness output never reaches the CLI process directly:
the CLI tails that file while the stage runs (:class:`HarnessLogTail`) and hands the numbers to a
reporter:

- :class:`RichBars`: one rich progress bar per stage (queries completed of issued, tokens/s,
  elapsed time). ``mlnb run`` shows it when stdout is a terminal, or with ``--progress``.
- :class:`ProgressLines`: machine-readable ``[stage] progress issued=..`` lines on stdout
  (``mlnb run --progress-lines``), which the launcher notebook parses with :func:`parse_cli_line`.

The pipeline calls a reporter's hooks (:class:`PipelineProgress`); nothing here is needed to run.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

__all__ = [
    "CliEvent",
    "HarnessLogTail",
    "PipelineProgress",
    "ProgressLines",
    "RichBars",
    "StageProgress",
    "combine",
    "format_progress_line",
    "make_progress",
    "parse_cli_line",
    "parse_harness_line",
]

# What the harness prints (mlnb/harness/run.py).
_PROGRESS = re.compile(
    r"progress issued=(?P<issued>\d+) completed=(?P<completed>\d+) tokens=(?P<tokens>\d+) "
    r"tok/s=(?P<tps>[0-9.]+) elapsed=(?P<elapsed>[0-9.]+)s(?: total=(?P<total>\d+))?"
)
_FINISHED = re.compile(r"finished: (?P<completed>\d+) queries, (?P<tokens>\d+) tokens in (?P<elapsed>[0-9.]+)s")

# What the pipeline prints (mlnb/pipeline.py) and ProgressLines adds.
_CLI_RUN = re.compile(r"^run: (?P<path>.+)$")
_CLI_REPORT = re.compile(r"^report: (?P<path>.+)$")
_CLI_START = re.compile(r"^\[(?P<stage>[^\]]+)\] running \.\.\.")
_CLI_END = re.compile(r"^\[(?P<stage>[^\]]+)\] (?P<status>finished|failed|interrupted) in (?P<secs>\d+)s: ?(?P<text>.*)$")
_CLI_PROGRESS = re.compile(r"^\[(?P<stage>[^\]]+)\] (?P<rest>progress .*)$")

STAGE_STATES = ("waiting", "running", "finished", "failed", "interrupted")


@dataclass(frozen=True)
class StageProgress:
    """Where one stage stands. ``issued``/``completed`` count LoadGen queries (samples)."""

    stage: str
    state: str = "waiting"
    issued: int = 0
    completed: int = 0
    tokens: int = 0
    tokens_per_s: float = 0.0
    elapsed_s: float = 0.0
    total: int = 0  # samples LoadGen will issue in all; 0 until known

    def bar(self) -> tuple[int, int]:
        """(value, maximum) for a progress bar; full only when every query the test will issue is done.

        In the Server and SingleStream scenarios queries arrive one at a time, so "completed of issued
        so far" reads full whenever the system keeps up, though most queries are still to come. With
        LoadGen's own total the bar measures against that; without it, one more query is always
        assumed to come until the stage ends.
        """
        if self.state == "finished":
            top = max(self.total, self.issued, self.completed, 1)
            return top, top
        if self.total:
            top = max(self.total, self.issued)
            return min(self.completed, top), top
        return self.completed, self.issued + 1

    @property
    def fraction(self) -> float:
        value, top = self.bar()
        return value / top

    def describe(self) -> str:
        """One short line for a bar's label: ``3/36 queries · 120.5 tok/s · 12 s · running``."""
        parts = []
        if self.issued or self.completed:
            if self.total or self.state == "finished":
                parts.append(f"{self.completed}/{max(self.total, self.issued)} queries")
            else:
                parts.append(f"{self.completed}/{self.issued} queries issued so far")
            parts.append(f"{self.tokens_per_s:,.1f} tok/s")
        if self.elapsed_s:
            parts.append(f"{self.elapsed_s:.0f} s")
        parts.append(self.state)
        return " \u00b7 ".join(parts)


def parse_harness_line(line: str, current: StageProgress) -> Optional[StageProgress]:
    """The stage's progress after one line of harness output, or None if the line says nothing."""
    match = _PROGRESS.search(line)
    if match:
        return replace(
            current,
            issued=int(match["issued"]),
            completed=int(match["completed"]),
            tokens=int(match["tokens"]),
            tokens_per_s=float(match["tps"]),
            elapsed_s=float(match["elapsed"]),
            total=int(match["total"]) if match["total"] else current.total,
        )
    match = _FINISHED.search(line)
    if match and line.startswith("finished:"):
        completed, tokens, elapsed = int(match["completed"]), int(match["tokens"]), float(match["elapsed"])
        return replace(
            current,
            issued=max(current.issued, completed),
            completed=completed,
            tokens=tokens,
            tokens_per_s=tokens / elapsed if elapsed > 0 else current.tokens_per_s,
            elapsed_s=elapsed,
        )
    return None


def format_progress_line(p: StageProgress) -> str:
    """``[stage] progress issued=.. completed=.. tokens=.. tok/s=.. elapsed=..s [total=..]`` (the harness's format)."""
    return (
        f"[{p.stage}] progress issued={p.issued} completed={p.completed} tokens={p.tokens} "
        f"tok/s={p.tokens_per_s:.1f} elapsed={p.elapsed_s:.1f}s" + (f" total={p.total}" if p.total else "")
    )


class HarnessLogTail:
    """Reads the lines appended to a ``harness.log`` since the last call; the file may not exist yet."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self._offset = 0
        self._partial = ""

    def read_lines(self) -> list[str]:
        try:
            with open(self.path, "r", encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return []
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next call
        return [line.rstrip("\r") for line in lines]


# ---------------------------------------------------------------------------------------------
# Reporters: the hooks mlnb.pipeline.execute_run calls
# ---------------------------------------------------------------------------------------------


class PipelineProgress:
    """Follows a run's stages; subclasses show what it sees. Every hook is cheap and never raises."""

    def __init__(self) -> None:
        self.stages: dict[str, StageProgress] = {}
        self._tails: dict[str, HarnessLogTail] = {}
        self._started: dict[str, float] = {}

    # hooks -----------------------------------------------------------------------------------
    def start(self, run_dir: Path, stages: Sequence[str]) -> None:
        for name in stages:
            self.stages[name] = StageProgress(name)
        self.on_start(list(stages))

    def stage_started(self, name: str, stage_dir: Path) -> None:
        self._tails[name] = HarnessLogTail(Path(stage_dir) / "harness.log")
        self._started[name] = time.monotonic()
        self.stages[name] = StageProgress(name, state="running")
        self.on_update(self.stages[name])

    def poll(self) -> None:
        for name, tail in list(self._tails.items()):
            self._read(name, tail)

    def stage_finished(self, name: str, status: str) -> None:
        tail = self._tails.pop(name, None)
        if tail is not None:
            self._read(name, tail)
        current = self.stages.get(name, StageProgress(name))
        elapsed = current.elapsed_s
        if name in self._started:
            elapsed = max(elapsed, time.monotonic() - self._started.pop(name))
        self.stages[name] = replace(current, state=status if status in STAGE_STATES else "failed", elapsed_s=elapsed)
        self.on_update(self.stages[name], final=True)

    def close(self) -> None:
        self.on_close()

    # what subclasses override ----------------------------------------------------------------
    def on_start(self, stages: list[str]) -> None:
        pass

    def on_update(self, progress: StageProgress, final: bool = False) -> None:
        pass

    def on_close(self) -> None:
        pass

    # -----------------------------------------------------------------------------------------
    def _read(self, name: str, tail: HarnessLogTail) -> None:
        current = self.stages.get(name, StageProgress(name, state="running"))
        changed = False
        for line in tail.read_lines():
            updated = parse_harness_line(line, current)
            if updated is not None:
                current, changed = updated, True
        if changed:
            self.stages[name] = current
            self.on_update(current)


class ProgressLines(PipelineProgress):
    """Prints ``[stage] progress ...`` lines (at most one per ``min_interval_s`` per stage, plus the last)."""

    def __init__(self, echo: Callable[[str], None] = print, min_interval_s: float = 1.0):
        super().__init__()
        self.echo = echo
        self.min_interval_s = min_interval_s
        self._last: dict[str, tuple[float, str]] = {}

    def on_update(self, progress: StageProgress, final: bool = False) -> None:
        if not (progress.issued or progress.completed):
            return
        line = format_progress_line(progress)
        last_time, last_line = self._last.get(progress.stage, (0.0, ""))
        now = time.monotonic()
        if line == last_line or (not final and now - last_time < self.min_interval_s):
            return
        self._last[progress.stage] = (now, line)
        self.echo(line)


class RichBars(PipelineProgress):
    """One rich progress bar per stage: queries completed of issued, tokens/s, elapsed time, state."""

    def __init__(self, force_terminal: Optional[bool] = None, file=None):
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=file if file is not None else sys.stdout, force_terminal=force_terminal)
        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(bar_width=28),
            TextColumn("{task.fields[queries]:>15}"),
            TextColumn("{task.fields[rate]:>14}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[state]}"),
            console=console,
            transient=False,
            redirect_stdout=file is None,  # prints from the run go above the bars
            redirect_stderr=file is None,
            refresh_per_second=4,
        )
        self._tasks: dict[str, int] = {}
        self._live = False

    def on_start(self, stages: list[str]) -> None:
        for name in stages:
            self._tasks[name] = self._progress.add_task(
                name, total=None, start=False, queries="", rate="", state="waiting"
            )
        self._progress.start()
        self._live = True

    def on_update(self, progress: StageProgress, final: bool = False) -> None:
        task = self._tasks.get(progress.stage)
        if task is None:
            task = self._tasks[progress.stage] = self._progress.add_task(progress.stage, total=None, queries="", rate="", state="")
        if progress.state == "running":
            self._progress.start_task(task)
        shown_total = max(progress.total, progress.issued)
        more = "" if progress.total or progress.state == "finished" else "+"  # "+": more may come
        queries = f"{progress.completed}/{shown_total}{more} queries" if progress.issued else ""
        rate = f"{progress.tokens_per_s:,.1f} tok/s" if progress.issued else ""
        completed, total = progress.bar()
        if not progress.issued and progress.state != "finished":
            total = None  # nothing issued yet: an indeterminate bar
        self._progress.update(task, total=total, completed=completed, queries=queries, rate=rate, state=progress.state)
        if final:
            self._progress.stop_task(task)

    def on_close(self) -> None:
        if self._live:
            self._progress.stop()
            self._live = False


class _Combined(PipelineProgress):
    def __init__(self, parts: Sequence[PipelineProgress]):
        super().__init__()
        self.parts = list(parts)

    def start(self, run_dir: Path, stages: Sequence[str]) -> None:
        for part in self.parts:
            part.start(run_dir, stages)

    def stage_started(self, name: str, stage_dir: Path) -> None:
        for part in self.parts:
            part.stage_started(name, stage_dir)

    def poll(self) -> None:
        for part in self.parts:
            part.poll()

    def stage_finished(self, name: str, status: str) -> None:
        for part in self.parts:
            part.stage_finished(name, status)

    def close(self) -> None:
        for part in self.parts:
            part.close()


def combine(parts: Sequence[PipelineProgress]) -> Optional[PipelineProgress]:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else _Combined(parts)


def make_progress(
    bars: Optional[bool], lines: bool, echo: Callable[[str], None] = print, stream=None
) -> Optional[PipelineProgress]:
    """The CLI's reporter: bars when asked, or by default when ``stream`` (stdout) is a terminal."""
    stream = stream if stream is not None else sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    show_bars = is_tty if bars is None else bars
    parts: list[PipelineProgress] = []
    if show_bars:
        # Asked for explicitly on a non-terminal: draw anyway (the user asked for it).
        parts.append(RichBars(force_terminal=True if (bars and not is_tty) else None))
    if lines:
        parts.append(ProgressLines(echo))
    return combine(parts)


# ---------------------------------------------------------------------------------------------
# Reading the CLI's output (the launcher)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliEvent:
    """One line of ``mlnb run`` output that means something to a front end.

    ``kind`` is ``run`` (the run folder, ``path``), ``start``, ``progress`` (``progress`` set),
    ``end`` (``status``: finished, failed or interrupted; ``text``: the stage's result line) or
    ``report`` (the index page, ``path``).
    """

    kind: str
    stage: Optional[str] = None
    path: Optional[str] = None
    status: Optional[str] = None
    text: str = ""
    progress: Optional[StageProgress] = None


def parse_cli_line(line: str) -> Optional[CliEvent]:
    line = line.rstrip("\r\n")
    match = _CLI_PROGRESS.match(line)
    if match:
        parsed = parse_harness_line(match["rest"], StageProgress(match["stage"], state="running"))
        if parsed is not None:
            return CliEvent("progress", stage=match["stage"], progress=parsed)
        return None
    match = _CLI_START.match(line)
    if match:
        return CliEvent("start", stage=match["stage"])
    match = _CLI_END.match(line)
    if match:
        return CliEvent("end", stage=match["stage"], status=match["status"], text=match["text"])
    match = _CLI_RUN.match(line)
    if match:
        return CliEvent("run", path=match["path"].strip())
    match = _CLI_REPORT.match(line)
    if match:
        return CliEvent("report", path=match["path"].strip())
    return None
