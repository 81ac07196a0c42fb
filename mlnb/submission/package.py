"""Build an MLPerf Inference submission tree from finished mlnb runs.

``build_package`` picks, for every (benchmark, scenario), the performance stage (``mode:
performance``), the accuracy stage (``mode: accuracy``) and the TEST06 stage (``mode: test06``)
from the given run folders. The two halves of a pair may come from different runs; when several
runs hold the same kind of stage, the run that started last wins. It then writes::

    {out}/{division}/{submitter}/systems/{system}.json
    {out}/{division}/{submitter}/documentation/calibration.md
    {out}/{division}/{submitter}/src/README.md
    {out}/{division}/{submitter}/results/{system}/{benchmark}/{scenario}/...

(see :mod:`mlnb.submission.checks` for the files of a scenario folder). The package is assembled
in a hidden folder next to ``out`` and renamed into place at the end, so ``out`` is either
complete or absent; an existing ``out`` is never touched.

A stage whose summary says ``submittable: false`` stops the build, unless
``allow_non_submittable``: then the package root gets ``NOT_FOR_SUBMISSION.txt`` with every relaxed
rule per stage, and every README.md in it starts with a bold warning line.

The system description (``--system-json``, or this machine's as ``mlnb sysinfo`` detects it) gets
``system_type`` from the benchmarks packaged (datacenter, edge or both, as the checker maps
benchmark folders) and ``status`` "rdi" when they are empty. A field the checker requires to be
non-empty that is still empty stops a submittable build, one line per field; in a package marked
NOT FOR SUBMISSION it reads "not given" and NOT_FOR_SUBMISSION.txt lists it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from mlnb.errors import InputError
from mlnb.fileio import read_json, write_json_atomic, write_text_atomic
from mlnb.submission.checks import BENCHMARKS, CALIBRATION_DOC, DIVISIONS, NOT_FOR_SUBMISSION, placement
from mlnb.submission.truncate import accuracy_txt_with_hash, truncate_accuracy_log

__all__ = ["StageRef", "build_package", "collect_stages", "measurements_for"]

MODES = ("performance", "accuracy", "test06")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
WARNING_LINE = (
    "**NOT FOR SUBMISSION: built with --allow-non-submittable from runs that relaxed MLPerf rules; "
    f"see {NOT_FOR_SUBMISSION} at the package root.**"
)
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "int8": "int8", "float8": "fp8"}
_ENGINE_KEYS_LEFT_OUT = {"model_path", "eos_token_ids", "load_seconds", "simulated"}
_PARAMS_LEFT_OUT = {"run_dir", "stage", "scenario", "mode", "timeout_s"}
# The status a description gets when it names none: research, development or internal, the one
# of the checker's three values that claims nothing about availability.
DEFAULT_STATUS = "rdi"
NOT_GIVEN = "not given (package NOT FOR SUBMISSION)"


class IncompleteSystemDescription(InputError):
    """Required system-description fields are empty: one line per field."""

    def __init__(self, where: str, fields: list[str]):
        from mlnb.submission.sysinfo import how_to_fill

        self.lines = [
            f"{where}: {name} is empty; a submittable package needs it ({how_to_fill(name)}; "
            f"set it with `mlnb sysinfo --set {name}=VALUE --out FILE` and pass --system-json FILE)"
            for name in fields
        ]
        super().__init__(where, "; ".join(f"{name} is empty" for name in fields))

    def __str__(self) -> str:
        # The CLI prints "error: " + this: each field gets a line of its own, with the same prefix.
        return "\nerror: ".join(self.lines)


@dataclass
class StageRef:
    """One finished stage folder of a run, and where it goes in the package."""

    run_dir: Path
    run_id: str
    stage_dir: Path
    summary: dict[str, Any]
    benchmark: str
    scenario: str  # scenario folder: Offline | Server | SingleStream | Interactive
    mode: str
    run_info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.run_id}/{self.stage_dir.name}"

    @property
    def relaxed_rules(self) -> list[str]:
        return [str(rule) for rule in self.summary.get("relaxed_rules") or []]


# ---------------------------------------------------------------------------------------------
# Picking stages
# ---------------------------------------------------------------------------------------------


def _run_started(run_dir: Path, info: dict[str, Any]) -> float:
    started = info.get("started")
    if isinstance(started, str):
        for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
            try:
                return datetime.strptime(started, fmt).timestamp()
            except ValueError:
                continue
    return run_dir.stat().st_mtime


def _stage_mode(stage_dir: Path, summary: dict[str, Any]) -> str | None:
    mode = summary.get("mode")
    if mode in MODES:
        return mode
    if "test06" in stage_dir.name.lower():
        return "test06"
    return None


def collect_stages(runs: list[Path]) -> dict[tuple[str, str], dict[str, StageRef]]:
    """``{(benchmark, scenario): {mode: StageRef}}`` over ``runs``; the latest-started run wins."""
    if not runs:
        raise InputError("RUN_DIRS", "no run folder given")
    ordered: list[tuple[float, int, Path, dict[str, Any]]] = []
    for index, run in enumerate(runs):
        run = Path(run)
        if not run.is_dir():
            raise InputError(str(run), "run folder not found")
        run = run.resolve()  # outputs/latest is a link
        info_path = run / "run.json"
        info: dict[str, Any] = {}
        if info_path.is_file():
            try:
                loaded = read_json(info_path)
            except (OSError, ValueError) as err:
                raise InputError(str(info_path), f"not readable JSON ({err.__class__.__name__})") from None
            info = loaded if isinstance(loaded, dict) else {}
        ordered.append((_run_started(run, info), index, run, info))
    ordered.sort(key=lambda item: (item[0], item[1]))

    picked: dict[tuple[str, str], dict[str, StageRef]] = {}
    for _, _, run, info in ordered:
        stage_dirs = sorted(p.parent for p in run.glob("*/summary.json"))
        if not stage_dirs:
            raise InputError(str(run), "no stage folder with summary.json: not an mlnb run folder")
        for stage_dir in stage_dirs:
            try:
                summary = read_json(stage_dir / "summary.json")
            except (OSError, ValueError) as err:
                where = str(stage_dir / "summary.json")
                raise InputError(where, f"not readable JSON ({err.__class__.__name__})") from None
            if not isinstance(summary, dict) or summary.get("status") != "finished":
                continue
            mode = _stage_mode(stage_dir, summary)
            if mode is None or not summary.get("model_key") or not summary.get("scenario"):
                continue
            benchmark, scenario = placement(str(summary["model_key"]), str(summary["scenario"]))
            run_id = str(info.get("run_id") or run.name)
            ref = StageRef(run, run_id, stage_dir, summary, benchmark, scenario, mode, info)
            picked.setdefault((benchmark, scenario), {})[mode] = ref  # later runs overwrite earlier ones
    # A TEST06 run alone is no result; keep it only next to a performance or accuracy stage.
    return {key: slots for key, slots in picked.items() if "performance" in slots or "accuracy" in slots}


# ---------------------------------------------------------------------------------------------
# What goes into the files
# ---------------------------------------------------------------------------------------------


def _portable(value: Any) -> Any:
    """A local absolute path becomes ``<local>/name``: packages carry no paths of the build machine."""
    if isinstance(value, str) and (value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", value)):
        return f"<local>/{Path(value).name}"
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    return value


def measurements_for(summary: dict[str, Any]) -> dict[str, str]:
    """measurements.json from a stage summary's engine and parameters."""
    engine = summary.get("engine") or {}
    params = summary.get("params") or {}
    if summary.get("simulated") or engine.get("simulated"):
        weights = "none (simulated backend: no model ran)"
        dtype = "none (simulated backend)"
    else:
        load_format = engine.get("load_format") or params.get("load_format")
        if load_format == "dummy":
            weights = "random weights (load_format=dummy)"
        else:
            weights = "Original Huggingface model weights"
        raw = str(engine.get("dtype") or params.get("dtype") or "")
        dtype = _DTYPES.get(raw, raw or "unknown")
    return {
        "input_data_types": "int32",
        "retraining": "No",
        "starting_weights_filename": weights,
        "weight_data_types": dtype,
        "weight_transformations": "none",
    }


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def mlnb_command(info: dict[str, Any]) -> str | None:
    """The ``mlnb run`` command line that reproduces a run, from its run.json."""
    if not info.get("preset"):
        return None
    parts = ["mlnb", "run", "--preset", str(_portable(info["preset"]))]
    if info.get("stages"):
        parts += ["--stages", ",".join(str(s) for s in info["stages"])]
    for item in info.get("overrides") or []:
        key = f"{item['stage']}.{item['key']}" if item.get("stage") else str(item.get("key"))
        parts += ["--set", f"{key}={_yaml_value(_portable(item.get('value')))}"]
    return " ".join(shlex.quote(part) for part in parts)


def _versions(ref: StageRef) -> tuple[str, str, str]:
    env = ref.summary.get("environment") or {}
    packages = env.get("packages") or {}
    return (
        str(packages.get("mlnb", "unknown")),
        str(env.get("mlnb_git") or "unknown"),
        str(packages.get("mlcommons-loadgen", "unknown")),
    )


def _stage_section(title: str, ref: StageRef) -> list[str]:
    s = ref.summary
    mlnb_version, git_rev, loadgen = _versions(ref)
    lines = [
        f"## {title}",
        "",
        f"- Source: run `{ref.run_id}`, stage `{ref.stage_dir.name}` ({s.get('scenario')}, {s.get('mode')}, "
        f"LoadGen model key `{s.get('model_key')}`)",
        f"- Verdict in mlnb: {s.get('verdict')}" + (f" ({'; '.join(s.get('verdict_reasons') or [])})"
                                                    if s.get("verdict_reasons") else ""),
        f"- mlnb {mlnb_version} (git {git_rev}), MLCommons LoadGen {loadgen}",
        f"- Backend `{s.get('backend')}`, model `{_portable(s.get('model'))}`"
        + (" (SIMULATED: no model ran)" if s.get("simulated") else ""),
    ]
    command = mlnb_command(ref.run_info)
    if command:
        lines.append(f"- Command: `{command}`")
    dataset = s.get("dataset") or {}
    if dataset:
        lines.append(
            f"- Dataset: `{_portable(dataset.get('path'))}`, {dataset.get('samples_used')} of "
            f"{dataset.get('records_in_file')} records"
        )
    engine = {k: v for k, v in (s.get("engine") or {}).items() if k not in _ENGINE_KEYS_LEFT_OUT}
    if engine:
        lines.append("- Engine: " + ", ".join(f"{k}={_portable(v)}" for k, v in engine.items()))
    params = {k: v for k, v in (s.get("params") or {}).items() if k not in _PARAMS_LEFT_OUT and v is not None}
    if params:
        lines.append("- Parameters: " + ", ".join(f"{k}={_portable(v)}" for k, v in params.items()))
    rules = ref.relaxed_rules
    lines.append("- Relaxed MLPerf rules: " + ("; ".join(rules) if rules else "none (submittable)"))
    return lines + [""]


def _scenario_readme(benchmark: str, scenario: str, system: str, slots: dict[str, StageRef], warn: bool) -> str:
    lines = [WARNING_LINE, ""] if warn else []
    lines += [
        f"# {benchmark} {scenario} on {system}",
        "",
        "Produced with mlnb, which runs the benchmark under the MLCommons LoadGen: each stage below is one "
        "LoadGen test run in its own process with the v6.1 mlperf.conf embedded in LoadGen and the "
        "user.conf of this folder. The performance and accuracy logs are LoadGen's own; accuracy.txt is "
        "MLPerf's ROUGE evaluation of the full accuracy log, whose SHA-256 is its hash= line "
        "(the packaged log is truncated to 10 KiB when longer).",
        "",
    ]
    for mode, title in (("performance", "Performance"), ("accuracy", "Accuracy"), ("test06", "TEST06")):
        if mode in slots:
            lines += _stage_section(title, slots[mode])
    return "\n".join(lines).rstrip() + "\n"


def _src_readme(refs: list[StageRef], warn: bool) -> str:
    versions = sorted({_versions(ref)[:2] for ref in refs})
    lines = [WARNING_LINE, ""] if warn else []
    lines += [
        "# Source: mlnb",
        "",
        "The results of this submitter were produced with mlnb, a harness that runs MLPerf Inference LLM "
        "benchmarks (Llama-3.1-8B on CNN/DailyMail) with the MLCommons LoadGen.",
        "",
        "mlnb versions used:",
        "",
    ]
    lines += [f"- mlnb {version}, git revision `{revision}`" for version, revision in versions]
    lines += [
        "",
        "## Reproduce",
        "",
        "Install mlnb at the revision above (`pip install -e .` in a checkout of it), then run the "
        "commands below. Every results README.md names the run and stage each log came from.",
        "",
    ]
    commands: dict[str, str] = {}
    for ref in refs:
        command = mlnb_command(ref.run_info)
        if command:
            commands.setdefault(ref.run_id, command)
    if commands:
        lines.append("```bash")
        for run_id, command in sorted(commands.items()):
            lines += [f"# run {run_id}", command]
        lines.append("```")
    else:
        lines.append("(The runs carry no run.json, so their commands are unknown.)")
    return "\n".join(lines).rstrip() + "\n"


def _not_for_submission(
    placed: list[tuple[str, dict[str, StageRef]]], system_missing: list[str]
) -> str:
    lines = [
        "NOT FOR SUBMISSION",
        "",
        "This package was built with --allow-non-submittable. The stages below did not follow the MLPerf",
        "rules listed under them, so it shows the layout and what the checks find; it is not a valid",
        "MLPerf Inference submission.",
        "",
    ]
    for where, slots in placed:
        for mode in MODES:
            ref = slots.get(mode)
            if ref is None:
                continue
            rules = ref.relaxed_rules or ["(none: this stage is submittable)"]
            lines.append(f"{where} {mode}: {ref.label}")
            lines += [f"  - {rule}" for rule in rules]
    if system_missing:
        lines += ["", f"System description: required fields left empty, written as {NOT_GIVEN!r}: "
                  + ", ".join(system_missing)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# System description
# ---------------------------------------------------------------------------------------------


def system_type_for(benchmarks: list[str]) -> str:
    """The checker's system_type whose scenario tables hold every benchmark folder in ``benchmarks``."""
    categories = {BENCHMARKS[name].category for name in benchmarks if name in BENCHMARKS}
    return "datacenter,edge" if categories == {"datacenter", "edge"} else (categories.pop() if categories else "")


def _load_system_json(system_json: Path) -> dict[str, Any]:
    where = str(system_json)
    try:
        data = read_json(system_json)
    except FileNotFoundError:
        raise InputError(where, "system description file not found") from None
    except (OSError, ValueError) as err:
        raise InputError(where, f"not readable JSON ({err.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InputError(where, "expected a JSON object (the MLPerf system description)")
    return data


def _system_description(
    system_json: Optional[Path],
    division: str,
    submitter: str,
    system_name: str,
    placed: dict[str, StageRef],
    submittable: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The description for systems/<system>.json and the required fields it leaves empty.

    ``placed`` maps each benchmark folder to one stage that goes there (named in error lines).
    """
    from mlnb.submission import sysinfo

    if system_json is not None:
        where = str(system_json)
        data = _load_system_json(system_json)
    else:
        where = f"systems/{system_name}.json (this machine, as `mlnb sysinfo` describes it)"
        overrides = {"division": division, "submitter": submitter, "system_name": system_name}
        data = sysinfo.collect_system_description(overrides).to_json()
    sources: dict[str, str] = {}
    for key, wanted in (("division", division), ("submitter", submitter)):
        value = data.get(key)
        if value in (None, ""):
            data[key] = wanted
        elif str(value) != wanted:
            raise InputError(where, f"{key} is {value!r} but --{key} is {wanted!r}")
    if data.get("system_name") in (None, ""):
        data["system_name"] = system_name

    derived = system_type_for(list(placed))
    if str(data.get("system_type") or "").strip() == "":
        data["system_type"] = derived
        sources["system_type"] = f"derived from the benchmarks packaged ({', '.join(sorted(placed))})"
    else:
        given = str(data["system_type"]).strip()
        if given not in sysinfo.VALID_SYSTEM_TYPES:
            raise InputError(where, f"system_type {given!r} is not one of {', '.join(sysinfo.VALID_SYSTEM_TYPES)}")
        for benchmark, ref in sorted(placed.items()):
            category = BENCHMARKS[benchmark].category
            if category not in given.split(","):
                raise InputError(
                    where, f"system_type {given!r} has no {benchmark} results (a {category} benchmark, from "
                    f"{ref.label}); use system_type {derived!r} or leave it empty"
                )
    if str(data.get("status") or "").strip() == "":
        data["status"] = DEFAULT_STATUS
        sources["status"] = "default: rdi claims nothing about availability; set available or preview if it applies"
    elif str(data["status"]).strip().lower() not in sysinfo.VALID_STATUSES:
        raise InputError(where, f"status {data['status']!r} is not one of {', '.join(sysinfo.VALID_STATUSES)}")
    if division == "network":
        data.setdefault("is_network", "true")

    empty = [
        name
        for name in sysinfo.required_fields_for(division)
        if name in sysinfo.MEANINGFUL_FIELDS and str(data.get(name) or "").strip() == ""
    ]
    if empty and submittable:
        raise IncompleteSystemDescription(where, empty)
    for name in empty:
        data[name] = NOT_GIVEN
        sources[name] = "empty; filled only because the package is NOT FOR SUBMISSION"
    for name in sysinfo.required_fields_for(division):
        data.setdefault(name, "")  # the checker needs every required key, even those it accepts empty
    if sources:
        observed = data.get(sysinfo.OBSERVED_KEY)
        observed = dict(observed) if isinstance(observed, dict) else {}
        observed["set_by_submission_build"] = sources
        data[sysinfo.OBSERVED_KEY] = observed
    return data, empty


def calibration_doc(refs: list[StageRef], warn: bool) -> str:
    """documentation/calibration.md: what was done to the weights, per benchmark, from the stages packaged."""
    lines = [WARNING_LINE, ""] if warn else []
    lines += [
        "# Calibration",
        "",
        "What mlnb knows about quantization and calibration of the models behind these results, from the "
        "engine and parameters each stage recorded.",
        "",
    ]
    by_benchmark: dict[str, set[str]] = {}
    for ref in refs:
        by_benchmark.setdefault(ref.benchmark, set()).add(_calibration_line(ref.summary))
    for benchmark, texts in sorted(by_benchmark.items()):
        lines += [f"## {benchmark}", ""] + [f"- {text}" for text in sorted(texts)] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _calibration_line(summary: dict[str, Any]) -> str:
    engine = summary.get("engine") or {}
    params = summary.get("params") or {}
    backend = summary.get("backend") or params.get("backend")
    if summary.get("simulated") or engine.get("simulated"):
        return "Simulated backend: no model ran, so there were no weights to quantize or calibrate."
    if backend == "openai":
        return ("Served by an external OpenAI-compatible server: mlnb does not know whether that server quantized "
                "the weights or how it calibrated them; the submitter must describe it here.")
    dtype = measurements_for(summary)["weight_data_types"]
    text = (f"Backend `{backend}`, weights in {dtype} as loaded from the checkpoint: mlnb applies no quantization, "
            "so no calibration data set was used.")
    kv = params.get("kv_cache_dtype")
    if kv not in (None, "", "auto"):
        text += f" KV cache in {kv} (kv_cache_dtype={kv}), with the engine's default scales and no calibration run."
    return text


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------


def _copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise InputError(str(src), "missing; the stage folder is incomplete")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _write_scenario(
    folder: Path, benchmark: str, scenario: str, system: str, slots: dict[str, StageRef], warn: bool
) -> None:
    perf, acc, test06 = slots.get("performance"), slots.get("accuracy"), slots.get("test06")
    if perf is not None:
        for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
            _copy(perf.stage_dir / "loadgen" / name, folder / "performance" / "run_1" / name)
    if acc is not None:
        loadgen = acc.stage_dir / "loadgen"
        for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
            _copy(loadgen / name, folder / "accuracy" / name)
        log = loadgen / "mlperf_log_accuracy.json"
        if not log.is_file():
            raise InputError(str(log), "missing; the accuracy stage folder is incomplete")
        txt = acc.stage_dir / "accuracy.txt"
        if not txt.is_file():
            raise InputError(str(txt), "missing; the accuracy stage was not scored")
        sha = truncate_accuracy_log(log, folder / "accuracy" / "mlperf_log_accuracy.json")
        text = accuracy_txt_with_hash(txt.read_text(encoding="utf-8"), sha)
        write_text_atomic(folder / "accuracy" / "accuracy.txt", text)
    if test06 is not None:
        _copy(test06.stage_dir / "verify_accuracy.txt", folder / "TEST06" / "verify_accuracy.txt")
        _copy(
            test06.stage_dir / "loadgen" / "mlperf_log_accuracy.json",
            folder / "TEST06" / "accuracy" / "mlperf_log_accuracy.json",
        )
    main = perf or acc
    assert main is not None
    write_json_atomic(folder / "measurements.json", measurements_for(main.summary))
    _copy(main.stage_dir / "loadgen" / "user.conf", folder / "user.conf")
    write_text_atomic(folder / "README.md", _scenario_readme(benchmark, scenario, system, slots, warn))


def build_package(
    runs: list[Path],
    out: Path,
    *,
    division: str,
    submitter: str,
    system_name: str,
    system_json: Path | None,
    allow_non_submittable: bool = False,
) -> Path:
    """Build the submission tree at ``out`` (which must not exist) from the run folders ``runs``.

    Returns ``out``. Raises :class:`InputError` (one line) on bad input, a non-submittable stage
    without ``allow_non_submittable``, or an existing ``out``.
    """
    out = Path(out)
    if division not in DIVISIONS:
        raise InputError("--division", f"{division!r} is not one of {', '.join(DIVISIONS)}")
    for option, value in (("--submitter", submitter), ("--system-name", system_name)):
        if not SAFE_NAME.match(value or ""):
            raise InputError(option, f"{value!r}: use letters, digits, '.', '_', '+' or '-' (it names a folder)")
    if out.exists() or out.is_symlink():
        raise InputError(str(out), "already exists; a package is never overwritten, choose another --out")

    picked = collect_stages([Path(r) for r in runs])
    if not picked:
        raise InputError("RUN_DIRS", "no finished performance or accuracy stage found in the given runs")

    relaxed = [
        slots[mode]
        for _, slots in sorted(picked.items())
        for mode in MODES
        if mode in slots and slots[mode].summary.get("submittable") is not True
    ]
    if relaxed and not allow_non_submittable:
        first = relaxed[0]
        more = f" (and {len(relaxed) - 1} more stages)" if len(relaxed) > 1 else ""
        raise InputError(
            str(first.stage_dir),
            f"not submittable, relaxed rules: {'; '.join(first.relaxed_rules) or 'unknown'}{more}; "
            "pass --allow-non-submittable to build a package marked NOT FOR SUBMISSION",
        )
    warn = bool(relaxed)

    by_benchmark = {benchmark: next(iter(slots.values())) for (benchmark, _), slots in sorted(picked.items())}
    description, system_missing = _system_description(
        system_json, division, submitter, system_name, by_benchmark, submittable=not warn
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        base = staging / division / submitter
        write_json_atomic(base / "systems" / f"{system_name}.json", description)
        placed: list[tuple[str, dict[str, StageRef]]] = []
        for (benchmark, scenario), slots in sorted(picked.items()):
            rel = Path(division, submitter, "results", system_name, benchmark, scenario)
            _write_scenario(staging / rel, benchmark, scenario, system_name, slots, warn)
            placed.append((rel.as_posix(), slots))
        refs = [ref for _, slots in placed for ref in slots.values()]
        write_text_atomic(base / "src" / "README.md", _src_readme(refs, warn))
        write_text_atomic(base / CALIBRATION_DOC, calibration_doc(refs, warn))
        if warn:
            write_text_atomic(staging / NOT_FOR_SUBMISSION, _not_for_submission(placed, system_missing))
        os.chmod(staging, 0o755)
        if out.exists() or out.is_symlink():  # appeared while building (rename would replace an empty folder)
            raise InputError(str(out), "already exists; a package is never overwritten, choose another --out")
        try:
            os.rename(staging, out)  # atomic: out is complete or absent
        except OSError:
            if out.exists():
                raise InputError(str(out), "already exists; a package is never overwritten") from None
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
