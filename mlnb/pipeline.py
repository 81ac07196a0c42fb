"""Run the stage notebooks in order with papermill, export HTML, and write the run's index.

Everything a run needs is validated before its folder is created, so a bad preset, dataset
or model leaves nothing behind that could be mistaken for a run. A failed stage keeps its
partial notebook, logs and HTML next to ``failure.json``.

A run stopped by Ctrl-C, SIGINT or SIGTERM (the launcher's Stop button) ends cleanly: the running
stage's kernel and harness are stopped, run.json says ``"status": "interrupted"``, the rollup and
index are written, every log stays, and :class:`RunInterrupted` is raised (the CLI exits 130).
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

from mlnb.backends.base import get_backend
from mlnb.config import Preset, StageParams, load_preset, resolve_stage_params
from mlnb.errors import InputError
from mlnb.fileio import write_json_atomic
from mlnb.paths import NOTEBOOKS_DIR, create_run_dir, point_latest, preset_path
from mlnb.server.for_run import ServerFailed, check_server_plan, start_run_server, stop_run_server
from mlnb.stages.registry import STAGES

KERNEL = "python3"


def _kernel_manager_class(socket_dir: str, started: Optional[list] = None):
    """Kernels on IPC sockets in a private folder: no TCP ports opened, no plain-text TCP warning.

    Each manager created is appended to ``started`` (when given), so an interrupted run can stop it.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if started is not None:
                started.append(self)

        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return os.path.join(socket_dir, "kernel")

    return LocalKernelManager


@dataclass
class RunPlan:
    preset_name: str
    preset: Preset
    stages: list[str]
    stage_params: dict[str, Optional[StageParams]]  # None for the summary stage
    overrides: list[tuple[Optional[str], str, Any]] = field(default_factory=list)


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
    path = preset_path(preset)
    loaded = load_preset(path)
    for name in loaded.stages:
        STAGES.get(name, f"{path} field 'stages'")
    chosen = stages or loaded.stages
    for name in chosen:
        STAGES.get(name, "--stages")
    overrides = overrides or []
    for target, _, _ in overrides:
        if target is not None:
            STAGES.get(target, "--set")
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
        else:
            check_stage_inputs(stage_params)
        params[name] = stage_params
    check_server_plan(loaded, params, str(path))
    return RunPlan(path.stem, loaded, chosen, params, overrides)


def check_stage_inputs(p: StageParams) -> None:
    """Fail before the run starts on anything a stage would trip over minutes later."""
    from mlnb.harness.run import dataset_path
    from mlnb.harness.settings import check_user_conf
    from mlnb.models.embedded import resolve_model
    from mlnb.workloads import workload_for

    get_backend(p.backend, f"stage {p.stage} backend")
    resolve_model(p.model, prepare=False) if p.model != "embedded" else None
    records = workload_for(p).load(dataset_path(p))
    if p.samples is not None and p.samples > len(records):
        raise InputError(
            f"stage {p.stage} samples={p.samples}", f"the dataset {dataset_path(p).name} has only {len(records)} records"
        )
    if p.user_conf:
        check_user_conf(p.user_conf)


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
) -> str:
    """Execute one stage notebook; returns "finished" or "failed" (with failure.json written).

    ``kernels`` collects the kernel managers started; when ``cancel`` is set (the run was
    interrupted) an error ends the stage as "interrupted", without a failure.json.
    """
    import papermill as pm

    spec = STAGES.get(spec_name)
    stage_dir = run_dir / spec_name
    stage_dir.mkdir(parents=True, exist_ok=True)
    output = stage_dir / f"{spec_name}.ipynb"
    status = "finished"
    started = time.time()
    socket_dir = tempfile.mkdtemp(prefix="mlnb-kernel-")
    with open(stage_dir / "stage.log", "w", encoding="utf-8") as log:
        try:
            pm.execute_notebook(
                str(NOTEBOOKS_DIR / spec.notebook),
                str(output),
                parameters=parameters,
                kernel_name=KERNEL,
                progress_bar=False,
                stdout_file=log,
                stderr_file=log,
                cwd=os.getcwd(),
                execution_timeout=execution_timeout,
                start_timeout=180,
                kernel_manager_class=_kernel_manager_class(socket_dir, kernels),
            )
        except pm.PapermillExecutionError as err:
            status = "failed"
            write_json_atomic(
                stage_dir / "failure.json",
                {
                    "stage": spec_name,
                    "cell_index": err.cell_index,
                    "execution_count": err.exec_count,
                    "ename": err.ename,
                    "evalue": err.evalue,
                    "elapsed_s": round(time.time() - started, 1),
                },
            )
        except Exception as err:  # dead kernel, timeout, missing kernel: still leave a failure.json
            status = "failed"
            write_json_atomic(
                stage_dir / "failure.json",
                {"stage": spec_name, "cell_index": None, "ename": type(err).__name__, "evalue": str(err)[:2000]},
            )
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)
    if status == "failed" and cancel is not None and cancel.is_set():
        # Stopped on purpose, not broken: no failure.json; the partial notebook and logs stay.
        status = "interrupted"
        (stage_dir / "failure.json").unlink(missing_ok=True)
    if output.exists():
        try:
            _export_html(output)
        except Exception as err:  # a missing template must not lose the stage's results
            write_json_atomic(
                stage_dir / "report_error.json",
                {"stage": spec_name, "ename": type(err).__name__, "evalue": str(err)[:2000]},
            )
    return status


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
    from mlnb.report.run_index import write_index, write_rollup

    run_dir = create_run_dir(outputs, plan.preset_name, run_id)
    run_info: dict[str, Any] = {
        "run_id": run_dir.name,
        "preset": plan.preset_name,
        "preset_description": plan.preset.description,
        "stages": plan.stages,
        "overrides": [{"stage": s, "key": k, "value": v} for s, k, v in plan.overrides],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "running",
    }
    write_json_atomic(run_dir / "run.json", run_info)
    echo(f"run: {run_dir}")
    status: dict[str, str] = {}
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    current: Optional[str] = None
    t0 = time.monotonic()
    server = None
    with _interrupt_signals():
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
                status[name] = _run_stage_interruptibly(name, run_dir, parameters, timeout, progress)
                current = None
                if progress is not None:
                    progress.stage_finished(name, status[name])
                echo(f"[{name}] {status[name]} in {time.monotonic() - t0:.0f}s: {_stage_line(run_dir / name)}")
                write_rollup(run_dir)
                write_index(run_dir)
                if status[name] != "finished" and not continue_on_error:
                    break
        except KeyboardInterrupt:  # RunInterrupted too (SIGTERM)
            if current is not None:
                status[current] = "interrupted"
                if progress is not None:
                    progress.stage_finished(current, "interrupted")
                echo(f"[{current}] interrupted in {time.monotonic() - t0:.0f}s: stopped; logs kept in {run_dir / current}")
            _close_progress(progress)
            _finish_run(outputs, run_dir, run_info, status, "interrupted")
            raise RunInterrupted(run_dir) from None
        except ServerFailed as err:
            echo(f"server: {err}")
            run_info["server_error"] = str(err)
            status.update({name: "not run" for name in plan.stages if name not in status})
        finally:
            stop_run_server(server, echo)  # also when a stage failed or the run was interrupted
        _close_progress(progress)
    finished = all(s == "finished" for s in status.values()) and len(status) == len(plan.stages)
    _finish_run(outputs, run_dir, run_info, status, "finished" if finished else "failed")
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


def _finish_run(outputs: Path, run_dir: Path, run_info: dict[str, Any], status: dict[str, str], run_status: str) -> None:
    from mlnb.report.run_index import write_index, write_rollup

    run_info.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), status=run_status, stage_status=status)
    write_json_atomic(run_dir / "run.json", run_info)
    write_rollup(run_dir)
    write_index(run_dir)
    point_latest(outputs, run_dir)


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
def _interrupt_signals():
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


def _run_stage_interruptibly(name: str, run_dir: Path, parameters: dict[str, Any], timeout: int, progress) -> str:
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
            result["status"] = run_stage_notebook(name, run_dir, parameters, timeout, kernels=kernels, cancel=cancel)
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
