"""Run the stage notebooks in order with papermill, export HTML, and write the run's index.

Everything a run needs is validated before its folder is created, so a bad preset, dataset
or model leaves nothing behind that could be mistaken for a run. A failed stage keeps its
partial notebook, logs and HTML next to ``failure.json``.

A run stopped by Ctrl-C, SIGINT or SIGTERM (the launcher's Stop button) ends cleanly: the running
stage's kernel and harness are stopped, run.json says ``"status": "interrupted"``, the rollup and
index are written, every log stays, and :class:`RunInterrupted` is raised (the CLI exits 130).

No process outlives the run (:mod:`mlnb.lifecycle`): kernels die with the run, and whatever of a
stage still runs when it ends is stopped before the stage is declared failed. A disk fault fails the
stage with the reason; the run's last writes go through as far as the disk allows
(:mod:`mlnb.disk_reserve`).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mlnb import disk_reserve
from mlnb.backends.registry import get_backend
from mlnb.config import Preset, StageParams, load_preset, resolve_stage_params, set_option_label
from mlnb.disk_reserve import write_or_say
from mlnb.errors import InputError
from mlnb.fileio import write_json_atomic
from mlnb.kernel import KERNEL, kernel_manager_class
from mlnb.lifecycle import RUN_MARK_ENV, STAGE_MARK_ENV, owner_record, stop_marked
from mlnb.paths import create_run_dir, find_preset_file, point_latest
from mlnb.workspace import Found, describe_sources, find_notebook
from mlnb.secrets import redact, redact_file
from mlnb.server.for_run import ServerFailed, check_server_plan, start_run_server, stop_run_server
from mlnb.stages.registry import STAGES

@dataclass
class RunPlan:
    preset_name: str
    preset: Preset
    stages: list[str]
    stage_params: dict[str, Optional[StageParams]]  # None for the summary stage
    overrides: list[tuple[Optional[str], str, Any]] = field(default_factory=list)
    preset_source: Optional[Found] = None  # the preset file and where it came from (workspace or package)

    def source_lines(self) -> list[str]:
        """What a run prints before it starts: the preset file and the notebooks folder it uses."""
        if self.preset_source is None:
            return []
        return describe_sources(self.preset_source, [find_notebook(STAGES.get(name).notebook) for name in self.stages])


@dataclass
class RunOutcome:
    run_dir: Path
    stage_status: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(status == "finished" for status in self.stage_status.values())


def plan_run(
    preset: str,
    stages: Optional[list[str]] = None,
    overrides: Optional[list[tuple[Optional[str], str, Any]]] = None,
) -> RunPlan:
    """Load and validate everything; raises InputError with one line on the first problem."""
    source = find_preset_file(preset)
    path = source.path
    loaded = load_preset(path)
    for name in loaded.stages:
        STAGES.get(name, f"{path} field 'stages'")
    chosen = stages if stages is not None else loaded.stages
    if not chosen:
        raise InputError("--stages", "no stage to run")
    for name in chosen:
        STAGES.get(name, "--stages")
    overrides = overrides or []
    for target, key, value in overrides:
        if target is not None:
            where = set_option_label(target, key, value)
            STAGES.get(target, where)
            if target not in chosen or STAGES.get(target).kind not in ("loadgen", "lmeval"):
                raise InputError(where, f"stage {target!r} takes no parameters in this run (stages: {', '.join(chosen)})")
    params: dict[str, Optional[StageParams]] = {}
    for name in chosen:
        spec = STAGES.get(name)
        if spec.kind not in ("loadgen", "lmeval"):
            params[name] = None
            continue
        stage_params = resolve_stage_params(loaded, name, spec.defaults, overrides, str(path))
        if spec.kind == "lmeval":
            from mlnb.stages.lmeval_stage import check_lmeval_inputs

            check_lmeval_inputs(stage_params)
            if stage_params.backend != "sim" and not stage_params.base_url:
                from mlnb.workloads import check_tokenizer_available

                check_tokenizer_available(stage_params)  # lm-eval loads the model folder's tokenizer
        else:
            check_stage_inputs(stage_params)
        params[name] = stage_params
    check_server_plan(loaded, params, str(path))
    return RunPlan(path.stem, loaded, chosen, params, overrides, source)


def check_stage_inputs(p: StageParams) -> None:
    """Fail before the run starts on anything a stage would trip over minutes later."""
    from mlnb.user_conf import check_user_conf
    from mlnb.workloads import check_tokenizer_available, dataset_path, load_records

    get_backend(p.backend, f"stage {p.stage} backend")
    if p.max_concurrency is not None and p.backend != "openai":
        raise InputError(f"stage {p.stage} max_concurrency={p.max_concurrency}", f"only the openai backend caps requests in flight, not {p.backend}")
    if p.max_concurrency is not None and p.client_workers > 1:
        raise InputError(f"stage {p.stage} max_concurrency={p.max_concurrency}",
                         f"the cap is kept by the in-process client; it cannot be used with client_workers={p.client_workers}")
    check_tokenizer_available(p)
    records = load_records(p)  # custom/synthetic: also tokenized and checked against the model's context
    if p.samples is not None and p.samples > len(records):
        raise InputError(
            f"stage {p.stage} samples={p.samples}", f"the dataset {dataset_path(p).name} has only {len(records)} records"
        )
    if p.user_conf:
        check_user_conf(p.user_conf, p, len(records[: p.samples] if p.samples else records))


def _export_html(notebook: Path) -> Path:
    from mlnb.report.html import export_notebook_html

    return export_notebook_html(notebook)


def run_stage_notebook(
    spec_name: str,
    run_dir: Path,
    parameters: dict[str, Any],
    execution_timeout: int | None,
    kernels: Optional[list] = None,
    cancel: Optional[threading.Event] = None,
    echo=print,
    errors: Optional[dict[str, dict]] = None,
) -> str:
    """Execute one stage notebook; returns "finished" or "failed" (with failure.json written).

    ``kernels`` collects the kernel managers started; when ``cancel`` is set (the run was
    interrupted) an error ends the stage as "interrupted", without a failure.json. Before a stage
    is declared failed, every process it started is stopped, so none writes into it afterwards.
    A failure that cannot be written to failure.json (a full or read-only disk) goes into ``errors``.
    """
    import papermill as pm

    spec = STAGES.get(spec_name)
    stage_dir = run_dir / spec_name
    output = stage_dir / f"{spec_name}.ipynb"
    failure: Optional[dict[str, Any]] = None
    started = time.time()
    marks = {RUN_MARK_ENV: str(run_dir), STAGE_MARK_ENV: str(stage_dir)}
    try:
        stage_dir.mkdir(parents=True, exist_ok=True)
        socket_dir = tempfile.mkdtemp(prefix="mlnb-kernel-")
        try:
            with open(stage_dir / "stage.log", "w", encoding="utf-8") as log:
                pm.execute_notebook(
                    str(find_notebook(spec.notebook).path),
                    str(output),
                    parameters=parameters,
                    kernel_name=KERNEL,
                    progress_bar=False,
                    stdout_file=log,
                    stderr_file=log,
                    cwd=os.getcwd(),
                    execution_timeout=execution_timeout,
                    start_timeout=180,
                    kernel_manager_class=kernel_manager_class(socket_dir, kernels, marks, log=log),
                )
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)
    except pm.PapermillExecutionError as err:
        failure = {
            "stage": spec_name,
            "cell_index": err.cell_index,
            "execution_count": err.exec_count,
            "ename": err.ename,
            "evalue": err.evalue,
        }
    except Exception as err:  # dead kernel, timeout, missing kernel, a disk fault: still leave a failure.json
        failure = {"stage": spec_name, "cell_index": None, "ename": type(err).__name__, "evalue": str(err)[:2000]}
    # Nothing of the stage runs on once it ends (a harness whose kernel was killed, a stuck child).
    left = stop_marked(STAGE_MARK_ENV, str(stage_dir))
    if cancel is not None and cancel.is_set() and failure is not None:
        # Stopped on purpose, not broken: no failure.json; the partial notebook and logs stay.
        _try_export_html(spec_name, stage_dir, output, run_dir, echo, str(parameters.get("api_key_env") or ""))
        return "interrupted"
    if failure is not None:
        failure["elapsed_s"] = round(time.time() - started, 1)
        if left:
            failure["processes_stopped"] = left
        cause = _harness_cause(stage_dir)
        if cause is not None:
            failure["cause"] = cause
        written = write_or_say(run_dir, f"[{spec_name}] failure.json", lambda: write_json_atomic(stage_dir / "failure.json", failure), echo)
        if written is None and errors is not None:
            errors[spec_name] = {k: failure.get(k) for k in ("ename", "evalue", "cell_index")}
    _try_export_html(spec_name, stage_dir, output, run_dir, echo, str(parameters.get("api_key_env") or ""))
    return "failed" if failure is not None else "finished"


def _harness_cause(stage_dir: Path) -> Optional[dict[str, Any]]:
    """The harness's own record of the exception that ended it, if it left one."""
    from mlnb.fileio import read_json
    from mlnb.harness.faults import HARNESS_ERROR_FILE

    try:
        error = read_json(stage_dir / HARNESS_ERROR_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(error, dict):
        return None
    return {k: error.get(k) for k in ("ename", "evalue", "thread")}


def _try_export_html(spec_name: str, stage_dir: Path, output: Path, run_dir: Path, echo, api_key_env: str = "") -> None:
    if not output.exists():
        return
    try:
        redact_file(output, (api_key_env,))  # defence in depth: no secret in the notebook or its HTML
        _export_html(output)
    except Exception as err:  # a missing template or a cut-off notebook must not lose the stage's results
        write_or_say(
            run_dir,
            f"[{spec_name}] report_error.json",
            lambda error=err: write_json_atomic(
                stage_dir / "report_error.json",
                {"stage": spec_name, "ename": type(error).__name__, "evalue": str(error)[:2000]},
            ),
            echo,
        )


def execute_run(
    plan: RunPlan,
    outputs: Path,
    run_id: Optional[str] = None,
    continue_on_error: bool = False,
    echo=print,
    progress=None,
    device_measure: Optional[Path] = None,
) -> RunOutcome:
    """Run the plan's stages into a new run folder.

    ``progress`` is an optional :class:`mlnb.ui.progress.PipelineProgress` (bars, progress lines).
    ``device_measure``: a device_measure.json taken earlier on this machine (a sweep's), copied
    instead of measuring again before every point.
    Raises :class:`RunInterrupted` after marking the run "interrupted" when SIGINT or SIGTERM arrives.
    """
    run_dir = create_run_dir(outputs, plan.preset_name, run_id)
    run_info: dict[str, Any] = {
        "run_id": run_dir.name,
        "preset": plan.preset_name,
        "preset_description": plan.preset.description,
        "stages": plan.stages,
        "overrides": [{"stage": s, "key": k, "value": redact(v) if isinstance(v, str) else v} for s, k, v in plan.overrides],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "running",
        "owner": owner_record(),  # gone while "running" = abandoned (mlnb.lifecycle)
    }
    write_json_atomic(run_dir / "run.json", run_info)
    disk_reserve.hold(run_dir)
    echo(f"run: {run_dir}")
    for line in plan.source_lines():
        echo(line)
    status: dict[str, str] = {}
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    current: Optional[str] = None
    t0 = time.monotonic()
    server = None
    stage_errors: dict[str, dict] = {}  # failures that could not be written to the stage's failure.json
    with interrupt_signals():
        try:
            _measure_device(plan, run_dir, echo, device_measure)  # inside: Ctrl-C here ends the run as "interrupted"
            if progress is not None:
                progress.start(run_dir, plan.stages)
            server = start_run_server(plan, run_dir, echo)  # the preset's `server:`, if it has one
            for name in plan.stages:
                params = plan.stage_params[name]
                if params is None:
                    parameters = {"run_dir": str(run_dir)}
                    timeout = 600
                else:
                    params = params.model_copy(update={"run_dir": str(run_dir)})
                    parameters = params.model_dump(mode="json")
                    timeout = int(params.timeout_s) + 600  # nbclient wants an int
                echo(f"[{name}] running ...")
                current, t0 = name, time.monotonic()
                if progress is not None:
                    progress.stage_started(name, run_dir / name)
                status[name] = _run_stage_interruptibly(name, run_dir, parameters, timeout, progress, echo, stage_errors)
                current = None
                if progress is not None:
                    progress.stage_finished(name, status[name])
                echo(f"[{name}] {status[name]} in {time.monotonic() - t0:.0f}s: {_stage_line(run_dir / name)}")
                _write_overview(run_dir, echo)
                if status[name] != "finished" and not continue_on_error:
                    break
        except KeyboardInterrupt:  # RunInterrupted too (SIGTERM)
            if current is not None:
                status[current] = "interrupted"
                if progress is not None:
                    progress.stage_finished(current, "interrupted")
                echo(f"[{current}] interrupted in {time.monotonic() - t0:.0f}s: stopped; logs kept in {run_dir / current}")
            _close_progress(progress)
            _finish_run(outputs, run_dir, run_info, status, "interrupted", echo, stage_errors)
            raise RunInterrupted(run_dir) from None
        except ServerFailed as err:
            echo(f"server: {err}")
            run_info["server_error"] = str(err)
            status.update({name: "not run" for name in plan.stages if name not in status})
        finally:
            stop_run_server(server, echo)  # also when a stage failed or the run was interrupted
            stop_marked(RUN_MARK_ENV, str(run_dir))  # anything of the run still running (a server's children)
        _close_progress(progress)
    finished = all(s == "finished" for s in status.values()) and len(status) == len(plan.stages)
    _finish_run(outputs, run_dir, run_info, status, "finished" if finished else "failed", echo, stage_errors)
    return RunOutcome(run_dir, status)


def _measure_device(plan: RunPlan, run_dir: Path, echo, earlier: Optional[Path] = None) -> None:
    """Memory bandwidth and matmul rate of the run's device, for the speed-of-light sections."""
    from mlnb.perf.measure import MEASURE_FILE
    from mlnb.perf.run_measure import measure_run_device

    if earlier is not None and earlier.is_file():
        shutil.copyfile(earlier, run_dir / MEASURE_FILE)
        return

    devices = [p.device for p in plan.stage_params.values() if p is not None and p.device != "auto"]
    measure_run_device(run_dir, devices[0] if devices else "auto", echo)


def _finish_run(
    outputs: Path,
    run_dir: Path,
    run_info: dict[str, Any],
    status: dict[str, str],
    run_status: str,
    echo=print,
    stage_errors: Optional[dict[str, dict]] = None,
) -> None:
    """Write run.json's last state, the rollup, the index and ``latest``, each as far as the disk allows."""
    run_info.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), status=run_status, stage_status=status)
    if stage_errors:
        run_info["stage_errors"] = stage_errors
    disk_reserve.release(run_dir)  # its space is what lets these last writes through on a full disk
    write_or_say(run_dir, "run.json", lambda: write_json_atomic(run_dir / "run.json", run_info), echo)
    _write_overview(run_dir, echo)
    write_or_say(run_dir, "outputs/latest", lambda: point_latest(outputs, run_dir), echo)


def _write_overview(run_dir: Path, echo) -> None:
    from mlnb.report.run_index import write_index, write_rollup

    write_or_say(run_dir, "rollup", lambda: write_rollup(run_dir), echo)
    write_or_say(run_dir, "index.html", lambda: write_index(run_dir), echo)


# ---------------------------------------------------------------------------------------------
# Interruption: SIGINT/SIGTERM end a run cleanly (run.json "interrupted", logs kept)
# ---------------------------------------------------------------------------------------------

PROGRESS_POLL_S = 0.5
KERNEL_INTERRUPT_GRACE_S = 20.0  # SIGINT (Jupyter's interrupt) to the stage's kernel group, then SIGTERM
KERNEL_INTERRUPT_EVERY_S = 5.0
KERNEL_TERM_GRACE_S = 10.0  # SIGTERM to the stage's kernel group, then SIGKILL
STOP_WAIT_S = 120.0  # at most this long for the stage to wind down (partial HTML included)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT or SIGTERM; ``run_dir`` holds it, marked "interrupted"."""

    def __init__(self, run_dir: Optional[Path] = None):
        super().__init__(str(run_dir) if run_dir else "interrupted")
        self.run_dir = run_dir


def _raise_interrupt(signum, frame) -> None:
    raise RunInterrupted()


@contextmanager
def interrupt_signals():
    """SIGINT and SIGTERM raise RunInterrupted in the main thread while the run goes on.

    SIGINT is set explicitly because a process started in the background may inherit it ignored.
    Outside the main thread (where handlers cannot be set) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _close_progress(progress) -> None:
    if progress is not None:
        try:
            progress.close()
        except Exception:
            pass


def _run_stage_interruptibly(
    name: str, run_dir: Path, parameters: dict[str, Any], timeout: int, progress, echo=print,
    errors: Optional[dict[str, dict]] = None,
) -> str:
    """run_stage_notebook in a worker thread, so that the main thread can take signals and poll progress.

    (nbclient replaces the SIGINT/SIGTERM handlers of the thread it runs in with its own, which
    shut the kernel down quietly; in a worker thread it cannot, and the signals reach the run.)
    """
    kernels: list = []
    cancel = threading.Event()
    done = threading.Event()  # not Thread.join: on Python < 3.13 a join interrupted by a signal marks a live thread dead
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["status"] = run_stage_notebook(
                name, run_dir, parameters, timeout, kernels=kernels, cancel=cancel, echo=echo, errors=errors
            )
        except BaseException as err:  # handed to the main thread below
            result["error"] = err
        finally:
            done.set()

    threading.Thread(target=work, name=f"mlnb-stage-{name}", daemon=True).start()
    try:
        while not done.wait(PROGRESS_POLL_S):
            if progress is not None:
                try:
                    progress.poll()
                except Exception:
                    pass  # progress display must never stop a run
    except KeyboardInterrupt:
        cancel.set()
        _stop_stage(done, kernels)
        raise
    if "error" in result:
        raise result["error"]
    return result["status"]


def _stop_stage(done: threading.Event, kernels: list) -> None:
    """Interrupt the stage's kernels, then wait for the stage to end.

    SIGINT to the kernel's process group is Jupyter's own interrupt: the running cell raises
    KeyboardInterrupt, the stage stops its harness, and papermill shuts the kernel down as after
    any cell error. It is repeated, because a SIGINT between two cells interrupts nothing. Only a
    kernel that ignores it gets SIGTERM and then SIGKILL (which nbclient reports as a dead kernel).
    """
    started = time.monotonic()
    last_sent: dict[int, tuple[int, float]] = {}  # pgid -> (signal, when)
    while not done.is_set() and time.monotonic() - started < STOP_WAIT_S:
        waited = time.monotonic() - started
        if waited < KERNEL_INTERRUPT_GRACE_S:
            wanted = signal.SIGINT
        elif waited < KERNEL_INTERRUPT_GRACE_S + KERNEL_TERM_GRACE_S:
            wanted = signal.SIGTERM
        else:
            wanted = signal.SIGKILL
        for manager in list(kernels):
            pgid = _kernel_pgid(manager)
            if pgid is None:
                continue
            sig, when = last_sent.get(pgid, (None, 0.0))
            if sig == wanted and (wanted != signal.SIGINT or time.monotonic() - when < KERNEL_INTERRUPT_EVERY_S):
                continue
            try:
                os.killpg(pgid, wanted)
            except OSError:
                pass
            last_sent[pgid] = (wanted, time.monotonic())
        done.wait(PROGRESS_POLL_S)


def _kernel_pgid(manager) -> Optional[int]:
    """The process group of a kernel started in its own session, if it is still running."""
    provisioner = getattr(manager, "provisioner", None)
    process = getattr(provisioner, "process", None)
    pgid = getattr(provisioner, "pgid", None)
    if process is None or pgid is None or process.poll() is not None:
        return None
    if pgid == os.getpgrp():  # never signal our own group
        return None
    return pgid


def _stage_line(stage_dir: Path) -> str:
    from mlnb.fileio import read_json

    line = _stage_result_line(stage_dir)
    if (stage_dir / "report_error.json").is_file():
        error = read_json(stage_dir / "report_error.json")
        line += f" (HTML report not written: {error['ename']}: {error['evalue'].splitlines()[0][:160]})"
    return line


def _stage_result_line(stage_dir: Path) -> str:
    from mlnb.fileio import read_json

    if (stage_dir / "failure.json").is_file():
        failure = read_json(stage_dir / "failure.json")
        return f"FAILED {failure.get('ename')}: {str(failure.get('evalue'))[:200]}"
    if (stage_dir / "summary.json").is_file():
        s = read_json(stage_dir / "summary.json")
        metrics = s.get("metrics", {})
        tps = metrics.get("tokens_per_second")
        sim = " (simulated)" if s.get("simulated") else ""
        tps_text = f", {tps:.1f} tokens/s" if isinstance(tps, (int, float)) else ""
        acc = metrics.get("accuracy")  # lm-eval stages
        acc_text = f", accuracy {acc:.4f}" if isinstance(acc, (int, float)) and s.get("lmeval") else ""
        return f"{s.get('verdict')}{sim}{tps_text}{acc_text}"
    return "done"
