"""The ``mlnb`` command: run pipelines, prepare the embedded model, fetch data, list things."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from mlnb.errors import InputError


class _Group(click.Group):
    """Turns InputError into one line and exit code 2; ``--debug`` keeps the traceback.

    Click's own usage errors (an unknown option, ``--samples abc``) are one line too.
    """

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # bare `mlnb`: the help, as click prints it
                err.show()
                sys.exit(err.exit_code)
            ctx = err.ctx
            command = " ".join(c.info_name for c in _context_chain(ctx)[1:]) if ctx is not None else ""
            hint = f" (see `mlnb {command + ' ' if command else ''}--help`)"
            click.echo(f"error: {_redact(' '.join(err.format_message().split()))}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(error_line(err), err=True)
            sys.exit(2)


def _context_chain(ctx: click.Context) -> list[click.Context]:
    chain = []
    while ctx is not None:
        chain.insert(0, ctx)
        ctx = ctx.parent
    return chain


def error_line(err: InputError) -> str:
    """The one line the CLI prints for bad input (the launcher form shows the same); never a secret.

    An error made of several ("\nerror: " between them, one per empty field of a submission) keeps one
    line each; any other line break is folded.
    """
    return "\n".join("error: " + _redact(" ".join(part.split())) for part in str(err).split("\nerror: "))


def _redact(text: str) -> str:
    from mlnb.secrets import redact

    return redact(text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import mlnb

    try:
        return version("mlnb")
    except PackageNotFoundError:
        return mlnb.__version__


@click.group(cls=_Group)
@click.version_option(version=_version(), prog_name="mlnb", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """MLPerf-Inference-style LLM benchmarks with the real LoadGen, reported as HTML."""
    from mlnb.secrets import load_dotenv_file

    ctx.obj = {"debug": debug}
    load_dotenv_file()


@main.command()
@click.option("--preset", default="smoke", show_default=True, help="Preset name in parameters/ or a YAML path.")
@click.option("--stages", default=None, help="Comma-separated stage names (default: the preset's list).")
@click.option("--samples", type=int, default=None, help="Shortcut for --set samples=N.")
@click.option("--model", default=None, help="Shortcut for --set model=...")
@click.option("--backend", default=None, help="Shortcut for --set backend=...")
@click.option("--dataset", default=None, help="Shortcut for --set dataset=...")
@click.option("--set", "sets", multiple=True, metavar="[STAGE.]KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--outputs", default=None, help="Outputs folder (default: outputs/, or $MLNB_OUTPUTS).")
@click.option("--run-id", default=None, help="Run folder name, a plain name inside the outputs folder (default: date_preset).")
@click.option("--continue-on-error", is_flag=True, help="Go on with the next stage after a failure.")
@click.option("--progress/--no-progress", "progress", default=None,
              help="A progress bar per stage: queries, tokens/s, elapsed time (default: on when stdout is a terminal).")
@click.option("--progress-lines", is_flag=True,
              help="Print machine-readable '[STAGE] progress issued=.. completed=.. tokens=.. tok/s=.. elapsed=..s' lines.")
@click.option("--server-perf", default=None, metavar="0|1", help="Stage 03_server_perf off/on (also RUN_PERF_SERVER).")
@click.option("--server-acc", default=None, metavar="0|1", help="Stage 04_server_accuracy off/on (also RUN_ACC_SERVER).")
@click.option("--offline-perf", default=None, metavar="0|1", help="Stage 01_offline_perf off/on (also RUN_PERF_OFFLINE).")
@click.option("--offline-acc", default=None, metavar="0|1", help="Stage 02_offline_accuracy off/on (also RUN_ACC_OFFLINE).")
@click.option("--mmlu", default=None, metavar="0|1", help="Stage 08_mmlu off/on (also RUN_MMLU_SMOKE).")
@click.option("--mmlu-limit", "mmlu_limit_switch", default=None, metavar="N", help="Shortcut for --set 08_mmlu.mmlu_limit=N (also MMLU_LIMIT).")
@click.option("--force-free-gpu", is_flag=True,
              help="First stop leftover processes of ended mlnb runs in the outputs folder; never others (also FORCE_FREE_GPU=1).")
def run(preset, stages, samples, model, backend, dataset, sets, outputs, run_id, continue_on_error,
        progress, progress_lines, server_perf=None, server_acc=None, offline_perf=None, offline_acc=None, mmlu=None,
        mmlu_limit_switch=None, force_free_gpu=False) -> None:
    """Run the benchmark pipeline: one notebook per stage, HTML reports, an index page.

    Presets and notebooks come from the workspace (see `mlnb init`) first, then from the package;
    the run prints which it used. The Llama-3.1-8B smoke scripts' switches work too, from the
    environment or as flags (RUN_PERF_SERVER, ..., SMOKE_SAMPLES, MMLU_LIMIT, FORCE_FREE_GPU); each
    one given is printed as what it maps to.

    Ctrl-C (SIGINT) or SIGTERM stops the run cleanly: it is marked interrupted, its logs are kept,
    and the exit code is 130.
    """
    import os

    from mlnb.pipeline import RunInterrupted, execute_run
    from mlnb.seed_switches import read_seed_switches
    from mlnb.ui.progress import make_progress

    switches = read_seed_switches(
        os.environ,
        {"--server-perf": server_perf, "--server-acc": server_acc, "--offline-perf": offline_perf,
         "--offline-acc": offline_acc, "--mmlu": mmlu},
        samples=samples, mmlu_limit=mmlu_limit_switch, force_free_gpu=force_free_gpu,
    )
    outputs_dir = check_run_target(outputs, run_id)
    stages, sets = _apply_seed_switches(switches, preset, stages, sets)
    plan = build_plan(preset, stages, sets, samples=samples if samples is not None else switches.samples,
                      model=model, backend=backend, dataset=dataset)
    for line in switches.lines:
        click.echo(line)
    if switches.force_free_gpu:
        from mlnb.leftovers import free_leftovers

        for line in free_leftovers(outputs_dir):
            click.echo(f"free: {line}")
    _prepare_models(plan)
    reporter = make_progress(progress, progress_lines, echo=click.echo)
    try:
        outcome = execute_run(plan, outputs_dir, run_id, continue_on_error, echo=click.echo, progress=reporter)
    except RunInterrupted as stopped:
        if stopped.run_dir is not None:
            click.echo(f"report: {stopped.run_dir / 'index.html'}")
        click.echo("interrupted: the run is marked interrupted in run.json; its logs are kept", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    click.echo(f"report: {outcome.run_dir / 'index.html'}")
    click.echo(f"latest: {(outcome.run_dir.parent / 'latest' / 'index.html')}")
    sys.exit(0 if outcome.ok else 1)


def check_run_target(outputs: Optional[str], run_id: Optional[str]) -> Path:
    """The outputs folder and run id, checked before anything else runs; returns the outputs folder."""
    from mlnb.paths import check_outputs_dir, check_run_id, default_outputs_dir

    if outputs is not None and not outputs.strip():
        raise InputError("--outputs ''", "expected a folder path")
    folder = Path(outputs) if outputs is not None else default_outputs_dir()
    check_outputs_dir(folder, "--outputs" if outputs is not None else "outputs folder (MLNB_OUTPUTS)")
    check_run_id(run_id)
    if run_id is not None and (folder / run_id).exists():
        raise InputError(f"--run-id {run_id!r}", f"{folder / run_id} already exists; runs are never overwritten")
    return folder


def _apply_seed_switches(switches, preset: str, stages: Optional[str], sets):
    """The --stages text and --set list after the seed switches' stage toggles and MMLU limit."""
    from mlnb.config import load_preset
    from mlnb.paths import check_preset, preset_path
    from mlnb.seed_switches import MMLU_STAGE

    if not switches.stage_on and switches.mmlu_limit is None:
        return stages, sets
    chosen = parse_stages(stages)
    if chosen is None:
        check_preset(preset)
        chosen = list(load_preset(preset_path(preset)).stages)
    chosen = switches.apply_to_stages(chosen)
    if not chosen:
        raise InputError("stage switches", "every stage is switched off; nothing to run")
    sets = tuple(sets)
    if switches.mmlu_limit is not None:
        if MMLU_STAGE in chosen:
            sets += (f"{MMLU_STAGE}.mmlu_limit={switches.mmlu_limit}",)
        else:
            switches.lines = [line.replace(f"-> --set {MMLU_STAGE}.mmlu_limit=", f"-> nothing (no {MMLU_STAGE} stage in this run): mmlu_limit=")
                              for line in switches.lines]
    return ",".join(chosen), sets


def parse_stages(stages: Optional[str]) -> Optional[list[str]]:
    """``--stages a,b``: None when not given; an empty or repeated name is an error, never "all"."""
    if stages is None:
        return None
    names = [name.strip() for name in stages.split(",")]
    if not any(names):
        raise InputError(f"--stages {stages!r}", "no stage named; give comma-separated names (see `mlnb list`)")
    if not all(names):
        raise InputError(f"--stages {stages!r}", "an empty stage name (a stray comma)")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"--stages {stages!r}", f"stage {repeated[0]!r} is named twice")
    return names


def build_plan(preset: str, stages: Optional[str], sets, samples=None, model=None, backend=None, dataset=None):
    """What `mlnb run` validates before a run folder exists; the launcher form calls it too.

    Raises InputError (shown by :func:`error_line`) on the first problem.
    """
    from mlnb.config import check_field, parse_set_option
    from mlnb.paths import check_preset
    from mlnb.pipeline import plan_run
    from mlnb.secrets import check_not_secret

    check_preset(preset)

    overrides = [parse_set_option(text) for text in sets]
    shortcuts = (("samples", samples), ("model", model), ("backend", backend), ("dataset", dataset))
    for name, value in reversed(shortcuts):
        if value is not None:
            option = f"--{name}"
            check_not_secret(f"{option}=", name, value)
            check_field(name, value, f"{option} {value!r}")
            overrides.insert(0, (None, name, value))
    _check_repeated_overrides(overrides, {name: f"--{name}" for name, value in shortcuts if value is not None})
    return plan_run(preset, parse_stages(stages), overrides)


def _check_repeated_overrides(overrides, shortcut_options: dict[str, str]) -> None:
    """The same key set twice for the same stages: the same value is harmless, two values are a mistake."""
    from mlnb.config import set_option_label

    seen: dict[tuple, object] = {}
    for stage, name, value in overrides:
        earlier = seen.get((stage, name))
        if isinstance(value, dict) and isinstance(earlier, dict):  # dataset_columns.FIELD=...: entries of one mapping
            clash = [k for k in value if k in earlier and earlier[k] != value[k]]
            if clash:
                raise InputError(set_option_label(stage, f"{name}.{clash[0]}", value[clash[0]]),
                                 f"conflicts with {set_option_label(stage, f'{name}.{clash[0]}', earlier[clash[0]])}; give one value")
            seen[(stage, name)] = {**earlier, **value}
            continue
        if (stage, name) in seen and seen[(stage, name)] != value:
            first = shortcut_options.get(name) if stage is None else None
            first = first or set_option_label(stage, name, seen[(stage, name)])
            raise InputError(set_option_label(stage, name, value), f"conflicts with {first}; give one value")
        seen[(stage, name)] = value


def _prepare_models(plan) -> None:
    from mlnb.models.embedded import is_prepared, prepare_embedded_model

    if any(p is not None and p.model == "embedded" and p.backend != "sim" for p in plan.stage_params.values()):
        if not is_prepared():
            click.echo("preparing the embedded model (once) ...")
            prepare_embedded_model()


@main.command()
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--keep-existing", is_flag=True,
              help="Write only the missing files; every existing file stays as it is (never overwritten).")
def init(directory: Path, keep_existing: bool) -> None:
    """Write a workspace in DIRECTORY (default: here): parameters/, notebooks/, outputs/, README.md.

    The workspace is yours to edit; mlnb looks there first for presets and notebooks. An existing
    file is never overwritten: if any is in the way, nothing is written (exit 2).
    """
    from mlnb.workspace_init import init_workspace

    result = init_workspace(directory, keep_existing=keep_existing)
    root = result.root.absolute()
    click.echo(f"workspace: {root} ({len(result.written)} files written"
               + (f", {len(result.kept)} existing kept" if result.kept else "") + ")")
    click.echo(f"next: cd {root} && mlnb run --preset smoke")


@main.group()
def model() -> None:
    """Models: prepare the embedded default."""


@model.command("prepare")
@click.option("--force", is_flag=True, help="Convert again even if the folder exists.")
def model_prepare(force: bool) -> None:
    """Convert the embedded SmolLM2-135M-Instruct GGUF into a Hugging Face folder (idempotent)."""
    from mlnb.models.embedded import embedded_model_dir, is_prepared, prepare_embedded_model

    if is_prepared() and not force:
        click.echo(f"already prepared: {embedded_model_dir()}")
        return
    click.echo(f"prepared: {prepare_embedded_model(force=force)}")


@main.group()
def data() -> None:
    """Datasets."""


@data.command("fetch")
@click.argument("name", type=click.Choice(["cnndm"]))
@click.option("--out", type=click.Path(path_type=Path), default=Path("data/cnn_eval.json"), show_default=True)
@click.option("--tokenizer", default="meta-llama/Llama-3.1-8B-Instruct", show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N validation articles.")
def data_fetch(name: str, out: Path, tokenizer: str, limit: Optional[int]) -> None:
    """Build cnn_eval.json from Hugging Face cnn_dailymail 3.0.0 validation (needs internet)."""
    from mlnb.data.cnndm import fetch_cnndm
    from mlnb.secrets import hf_token

    click.echo(f"wrote {fetch_cnndm(out, tokenizer, limit=limit, token=hf_token())}")


@main.command("list")
@click.option("--params", "show_params", is_flag=True, help="List every stage parameter.")
@click.option("--runs", "show_runs", is_flag=True, help="List the runs in --outputs (a run whose process is gone: abandoned).")
@click.option("--outputs", type=click.Path(path_type=Path), default=None, help="Outputs folder (default: outputs/).")
def list_things(show_params: bool, show_runs: bool = False, outputs: Optional[Path] = None) -> None:
    """List presets, stages, backends (and parameters, and runs)."""
    from mlnb.backends.registry import BACKENDS, get_backend
    from mlnb.config import StageParams
    from mlnb.stages.registry import STAGES

    get_backend("sim")  # registers the built-in backends
    from mlnb.workspace import PRESETS, find_workspace, package_origin, preset_names, shipped_dir

    workspace = find_workspace()
    package = f"{package_origin()} at {shipped_dir(PRESETS).parent}"
    click.echo(f"workspace: {workspace} (then the {package})" if workspace is not None
               else f"workspace: none (presets and notebooks of the {package}; `mlnb init` makes one)")
    click.echo("presets:  " + ", ".join(f"{name}" + (" (workspace)" if origin == "workspace" else "")
                                         for name, origin in preset_names().items()))
    click.echo("stages:   " + ", ".join(STAGES.names()))
    click.echo("backends: " + ", ".join(BACKENDS.names()))
    if show_params:
        for name, field in StageParams.model_fields.items():
            click.echo(f"  {name:26} {field.default!r:>14}  {field.description or ''}")
    if show_runs:
        from mlnb.paths import default_outputs_dir
        from mlnb.report.runs_list import list_runs, run_label

        runs = list_runs(outputs or default_outputs_dir())
        click.echo(f"runs:     {len(runs)}")
        for run in runs:
            click.echo(f"  {run_label(run)}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
def report(run_dir: Optional[Path]) -> None:
    """Rebuild a run's HTML reports, rollup and index without re-running anything.

    Without RUN_DIR: the newest run, outputs/latest (of the workspace, or of this folder).
    """
    from mlnb.paths import LATEST, check_run_dir, default_outputs_dir
    from mlnb.report.html import export_run_notebooks
    from mlnb.report.run_index import write_index, write_rollup

    if run_dir is None:
        run_dir = default_outputs_dir() / LATEST
        if not run_dir.exists():
            raise InputError(f"RUN_DIR (default {run_dir})", "no run yet: outputs/latest does not exist; give a run folder")
        click.echo(f"run: {run_dir} -> {run_dir.resolve().name} (no RUN_DIR given: the newest run)")
    check_run_dir(run_dir)
    export_run_notebooks(run_dir, echo=click.echo)
    write_rollup(run_dir)
    click.echo(f"report: {write_index(run_dir)}")


@main.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="File format of the tables.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="A new folder for the files (default: RUN/exports/FORMAT); an existing one is never written over.")
def export(run_dir: Path, fmt: str, out: Optional[Path]) -> None:
    """Write every stage's per-query table and the table of the stage summaries as CSV or Parquet."""
    from mlnb.analysis.export import default_out, export_run

    manifest = export_run(run_dir, fmt, out)
    for name, rows in manifest["files"].items():
        click.echo(f"{name}: {rows} rows")
    click.echo(f"export: {out if out is not None else default_out(run_dir, fmt)}")


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write the JSON (default: RUN/system.json with --run, else OUTPUTS/system.json of the "
                   "workspace; a submission keeps it as systems/SYSTEM_NAME.json).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="Write into this run folder (RUN/system.json).")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="Set a field (repeatable).")
@click.option("--system-name", default=None, help="Shortcut for --set system_name=...")
@click.option("--submitter", default=None, help="Shortcut for --set submitter=...")
@click.option("--division", default=None, metavar="[open|closed|network]", help="Shortcut for --set division=...")
@click.option("--status", default=None, metavar="[available|preview|rdi]", help="Shortcut for --set status=...")
@click.option("--system-type", default=None, metavar="[datacenter|edge|datacenter,edge]",
              help="Shortcut for --set system_type=...")
@click.option("--measure", is_flag=True,
              help="Also time a large device copy and matmul (torch; CUDA when present) and store the result.")
def sysinfo(out, sets, system_name, submitter, division, status, system_type, measure=False, run_dir=None) -> None:
    """Write the MLPerf system-description JSON: detected fields filled, the rest listed to fill in.

    It goes into the run given (--run), else the outputs folder of the workspace (or ./outputs),
    never silently into the current folder; the path is printed.
    """
    from mlnb.secrets import check_not_secret
    from mlnb.submission.sysinfo import collect_system_description, render_missing, write_system_description

    overrides: dict[str, str] = {}
    for text in sets:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set {text}", "expected FIELD=VALUE")
        check_not_secret(f"--set {name.strip()}=", name.strip(), value)
        overrides[name.strip()] = value
    for name, value in (("system_name", system_name), ("submitter", submitter), ("division", division),
                        ("status", status), ("system_type", system_type)):
        if value is not None:
            option = "--" + name.replace("_", "-")
            if name in overrides and overrides[name].strip() != value.strip():
                raise InputError(option, f"{value!r} disagrees with --set {name}={overrides[name]}")
            overrides[name] = value
    out = _sysinfo_target(out, run_dir)
    if out.is_dir():
        raise InputError(f"--out {out}", "is a folder; give a file path such as systems/NAME.json")
    info = collect_system_description(overrides)
    if measure:
        from mlnb.perf.measure import measure_device

        result = measure_device("auto")
        info.observed["device_measure"] = result
        click.echo(f"measured {result['device_name']}: copy {result['copy']['bandwidth_gbps']:.1f} GB/s, "
                   f"matmul {result['matmul']['tflops']:.3f} TFLOPS ({result['matmul']['dtype']})")
    click.echo(f"wrote {write_system_description(info, out)}")
    click.echo(render_missing(info))


def _sysinfo_target(out: Optional[Path], run_dir: Optional[Path]) -> Path:
    from mlnb.paths import check_outputs_dir, check_run_dir, default_outputs_dir

    if out is not None and run_dir is not None:
        raise InputError("--out and --run", "give one: --run writes RUN/system.json")
    if out is not None:
        return out
    if run_dir is not None:
        check_run_dir(run_dir, "--run")
        return run_dir / "system.json"
    folder = default_outputs_dir()
    check_outputs_dir(folder, "outputs folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "system.json"


@main.group()
def submission() -> None:
    """MLPerf submission packages: build one from finished runs, check one."""


@submission.command("build")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Package folder to create (must not exist).")
@click.option("--division", default="closed", show_default=True, metavar="[closed|open|network]")
@click.option("--submitter", required=True, help="Submitter name (a folder name).")
@click.option("--system-name", required=True, help="System id: names systems/ID.json and results/ID/.")
@click.option("--system-json", type=click.Path(path_type=Path), default=None,
              help="System description JSON (default: describe this machine, see `mlnb sysinfo`).")
@click.option("--allow-non-submittable", is_flag=True,
              help="Package stages that relaxed MLPerf rules; the package is marked NOT FOR SUBMISSION.")
def submission_build(run_dirs, out, division, submitter, system_name, system_json, allow_non_submittable) -> None:
    """Build {division}/{submitter}/... from RUN_DIRS (later runs win for the same stage kind)."""
    from mlnb.submission.checks import check_package
    from mlnb.submission.package import build_package

    root = build_package(
        list(run_dirs), out, division=division, submitter=submitter, system_name=system_name,
        system_json=system_json, allow_non_submittable=allow_non_submittable,
    )
    click.echo(f"package: {root}")
    failures = check_package(root)
    if failures:
        click.echo(f"check: {len(failures)} problems; `mlnb submission check {root}` lists them")
    else:
        click.echo("check: no problems found")


@submission.command("check")
@click.argument("package_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def submission_check(package_dir: Path) -> None:
    """Check a package against the MLPerf v6.1 rules: one line per problem, exit 1 if any."""
    from mlnb.submission.checks import check_package

    failures = check_package(package_dir)
    for failure in failures:
        click.echo(str(failure))
    if failures:
        sys.exit(1)
    click.echo("no problems found")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Comparison folder to create (default: compare-<time>_<a>_vs_<b> next to the first run).")
@click.option("--force", is_flag=True, help="Compare runs of different models anyway.")
@click.option("--resamples", type=int, default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=20240601, show_default=True, help="Bootstrap seed.")
@click.option("--threshold", type=float, default=0.05, show_default=True,
              help="Practical threshold: smaller changes (share of the first run's value) are inconclusive.")
def compare(run_dirs, out, force, resamples, seed, threshold) -> None:
    """Compare finished runs with the first: verdicts with bootstrap intervals, every difference, an HTML page.

    Two sweep folders instead: their throughput / per-user speed curves overlaid, and where one's Pareto
    frontier dominates the other's (a change within --threshold is neither).
    """
    from mlnb.sweep.compare import is_sweep

    sweeps = [is_sweep(path) for path in run_dirs]
    if any(sweeps):
        _compare_sweeps(list(run_dirs), sweeps, out, threshold)
        return
    from mlnb.compare.output import HTML_FILE, write_comparison

    from mlnb.compare.terminal import print_comparison

    folder, comparison = write_comparison(list(run_dirs), out, force=force, resamples=resamples, seed=seed,
                                          threshold=threshold, echo=click.echo)
    print_comparison(comparison)
    if comparison["differences"]:
        click.echo(f"settings that differ: {len(comparison['differences'])} (listed in the report)")
    click.echo(f"report: {folder / HTML_FILE}")


def _compare_sweeps(folders: list[Path], sweeps: list[bool], out: Optional[Path], threshold: float) -> None:
    from mlnb.sweep.compare import COMPARE_HTML, compare_sweeps

    if not all(sweeps):
        other = folders[sweeps.index(False)]
        raise InputError(f"mlnb compare {other}", "is not a sweep (no sweep.json); compare sweeps with sweeps, runs with runs")
    if len(folders) != 2:
        raise InputError("mlnb compare", f"compares two sweeps, not {len(folders)}")
    folder, result = compare_sweeps(folders[0], folders[1], out, threshold)
    click.echo(f"A = {folders[0]}\nB = {folders[1]}")
    for check in result["checks"]:
        click.echo(f"  at {check['per_user_tokens_per_s']:g} tokens/s per user: A {check['a_output_tokens_per_s']}, "
                   f"B {check['b_output_tokens_per_s']} output tokens/s -> {check['dominates']}")
    click.echo(f"verdict: {result['verdict']}")
    click.echo(f"report: {folder / COMPARE_HTML}")


@main.command()
@click.option("--outputs", type=click.Path(path_type=Path), default=None, help="Outputs folder (default: outputs/).")
@click.option("--dry-run", is_flag=True, help="Only say what would be stopped.")
@click.option("--grace", type=float, default=30.0, show_default=True, help="Seconds between SIGTERM and SIGKILL.")
def cleanup(outputs: Optional[Path], dry_run: bool, grace: float) -> None:
    """Stop servers mlnb started and recorded (RUN/server/process.json); never kills by name."""
    from mlnb.paths import default_outputs_dir
    from mlnb.server.processes import cleanup as cleanup_processes

    lines = cleanup_processes(outputs or default_outputs_dir(), dry_run=dry_run, grace_s=grace)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no recorded processes")


# ---------------------------------------------------------------------------------------------
# Sweeps: the highest VALID target_qps, rate ladders and their curve (mlnb/sweep/)
# ---------------------------------------------------------------------------------------------

@main.command()
@click.option("--preset", default="smoke", show_default=True, help="Preset name in parameters/ or a YAML path.")
@click.option("--stage", default=None,
              help="The stage to sweep: Server or Interactive (default 03_server_perf); --concurrency: Offline (01_offline_perf).")
@click.option("--backend", default=None, help="Shortcut for --set backend=...")
@click.option("--model", default=None, help="Shortcut for --set model=...")
@click.option("--samples", type=int, default=None, help="Shortcut for --set samples=N.")
@click.option("--set", "sets", multiple=True, metavar="[STAGE.]KEY=VALUE", help="Override a parameter of every point.")
@click.option("--search", is_flag=True, help="Search the highest VALID target_qps (ladder, then bisection).")
@click.option("--rates", default=None, metavar="Q1,Q2,..|geom:START:STOP:N", help="A rate ladder (target_qps values).")
@click.option("--concurrency", default=None, metavar="N1,N2,..|geom:START:STOP:N",
              help="openai backend: a closed-loop ladder of requests in flight (LoadGen Offline, client-capped).")
@click.option("--repeats", type=int, default=1, show_default=True, help="Ladders: runs per point, for their spread.")
@click.option("--grid", "grid", multiple=True, metavar="ENGINE_ARG=V1,V2",
              help="Ladders: managed-server engine arguments; the server restarts per setting (repeatable: every combination).")
@click.option("--queries-per-slot", type=int, default=8, show_default=True,
              help="--concurrency: at least this many queries per request in flight in each point.")
@click.option("--start-qps", type=float, default=None, help="Search: first trial (default: the stage's target_qps).")
@click.option("--factor", type=float, default=2.0, show_default=True, help="Search: bracketing step.")
@click.option("--tolerance", type=float, default=0.05, show_default=True,
              help="Search: stop when (lowest INVALID - highest VALID) / highest VALID <= this.")
@click.option("--max-trials", type=int, default=16, show_default=True, help="Search: at most this many trials.")
@click.option("--trial-duration-ms", type=int, default=None,
              help="min_duration of each point (default: the preset's; --concurrency: 0, each point sized by its query count).")
@click.option("--confirm", is_flag=True, help="Search: a final run at the found QPS with the preset's durations.")
@click.option("--no-early-stopping-sizing", "no_sizing", is_flag=True,
              help="Keep the preset's min_query_count: short points that cannot pass early stopping (curve only).")
@click.option("--slo", "slos", multiple=True, metavar="ttft=MS|tpot=MS",
              help="Goodput limits with a unit, e.g. ttft=500ms, tpot=0.05s (default: the scenario's).")
@click.option("--saturation-margin", type=float, default=0.05, show_default=True,
              help="Ladder: saturated when the achieved rate < (1 - margin) x the offered rate "
                   "(--concurrency: when throughput < (1 + margin) x the previous N's).")
@click.option("--no-saturation-stop", is_flag=True, help="Ladder: run every rate even past saturation.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Resume this sweep folder.")
@click.option("--outputs", type=click.Path(path_type=Path), default=None, help="Outputs folder (default: outputs/).")
@click.option("--sweep-id", default=None, help="Sweep folder name (default: date_sweep_preset).")
@click.option("--force-free-gpu", is_flag=True,
              help="First stop leftover processes of ended mlnb runs in the outputs folder; never others (also FORCE_FREE_GPU=1).")
def sweep(preset, stage, backend, model, samples, sets, search, rates, concurrency, repeats, grid, queries_per_slot,
          start_qps, factor, tolerance,
          max_trials, trial_duration_ms, confirm, no_sizing, slos, saturation_margin, no_saturation_stop, resume,
          outputs, sweep_id, force_free_gpu=False) -> None:
    """Sweep a stage over load: each point a full run; sweep.json, points.csv, sweep.html.

    Server/Interactive over target_qps (--search, --rates), or the openai backend over requests in
    flight (--concurrency: a closed loop run as LoadGen Offline with a client cap; see the page's note).

    Ctrl-C stops it cleanly (exit 130); `mlnb sweep --resume FOLDER` carries on from its finished points.
    Of the smoke scripts' switches (see `mlnb run`), SMOKE_SAMPLES and FORCE_FREE_GPU apply; the stage
    switches and MMLU_LIMIT are printed as ignored (a sweep runs one stage).
    """
    import os

    from mlnb.seed_switches import for_sweep, read_seed_switches
    from mlnb.sweep.page import HTML_FILE
    from mlnb.sweep.plan import plan_point
    from mlnb.sweep.runner import SweepInterrupted, spec_of
    from mlnb.sweep.session import execute_sweep, open_sweep, spec_from_options

    switches = for_sweep(read_seed_switches(os.environ, samples=samples, force_free_gpu=force_free_gpu),
                         resuming=resume is not None)
    if samples is None:
        samples = switches.samples
    if resume is not None:
        if search or rates is not None or concurrency is not None:
            raise InputError("--resume", "resumes the sweep as it was started; give no --search, --rates or --concurrency")
        if repeats != 1 or grid:
            raise InputError("--resume", "resumes the sweep as it was started; give no --repeats or --grid")
        sweep_dir, state = open_sweep(resume=resume)
    else:
        shortcuts = [f"{name}={value}" for name, value in (("backend", backend), ("model", model), ("samples", samples))
                     if value is not None]
        spec = spec_from_options(
            preset=preset, stage=stage, sets=shortcuts + list(sets), search=search, rates=rates,
            concurrency=concurrency, repeats=repeats, grid=grid, queries_per_slot=queries_per_slot, start_qps=start_qps, factor=factor, tolerance=tolerance, max_trials=max_trials,
            trial_duration_ms=trial_duration_ms, confirm=confirm, slos=slos, saturation_margin=saturation_margin,
            stop_at_saturation=not no_saturation_stop, size_for_early_stopping=not no_sizing,
        )
        sweep_dir, state = open_sweep(spec, outputs, sweep_id)
    spec = spec_of(state)
    for line in switches.lines:
        click.echo(line)
    if switches.force_free_gpu:
        from mlnb.leftovers import free_leftovers

        for line in free_leftovers(sweep_dir.parent):
            click.echo(f"free: {line}")
    _prepare_models(plan_point(spec, state["first_qps"]))
    click.echo(f"sweep: {sweep_dir}")
    if spec.kind == "concurrency" and spec.trial_duration_ms is None:
        click.echo("concurrency points: min_duration_ms=0, each sized by its query count (--trial-duration-ms sets one)")
    try:
        state = execute_sweep(sweep_dir, state, echo=click.echo)
    except SweepInterrupted:
        click.echo(f"page: {sweep_dir / HTML_FILE}")
        click.echo(f"interrupted: resume with `mlnb sweep --resume {sweep_dir}`", err=True)
        sys.exit(130)
    result = state["result"] or {}
    if spec.kind == "search":
        click.echo(f"highest VALID target_qps: {result.get('highest_valid_qps')}; lowest INVALID above it: "
                   f"{result.get('lowest_invalid_qps')} ({result.get('stop_reason')})")
    else:
        click.echo(f"{spec.kind}: {result.get('stop_reason')}")
    click.echo(f"{result.get('loadgen_runs')} LoadGen runs, {result.get('elapsed_min')} min")
    click.echo(f"page: {sweep_dir / HTML_FILE}")
    sys.exit(0 if state["status"] == "finished" else 1)

if __name__ == "__main__":
    main()
