"""Who may import whom: mlnb's layers, bottom to top, as data.

A module may import modules of its own layer or of a layer below it, never one above; no two modules
import each other, directly or round a circle. ``tests/unit/test_import_layers.py`` checks every
import under ``mlnb/`` (lazy ones inside functions too) against this table, and the README's
"Architecture" section lists it. A module is placed by the longest name in the table that it
starts with; a new module with no place fails the test until it is given one here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]  # module names or package prefixes
    role: str  # one line for the README


LAYERS: tuple[Layer, ...] = (
    # Imports nothing of mlnb above it: errors, atomic files, secrets masking, the run folder's layout,
    # child-process marks, and the result files (results, query_table, client_stats) that every layer
    # writes or reads. sandbox isolates untrusted code and needs only secrets. kernel is how a notebook
    # is executed (pipeline and compare both run one). workspace finds presets, notebooks and outputs.
    Layer("foundation", (
        "mlnb", "mlnb.errors", "mlnb.fileio", "mlnb.registry", "mlnb.secrets", "mlnb.versions",
        "mlnb.paths", "mlnb.lifecycle", "mlnb.disk_reserve", "mlnb.kernel", "mlnb.results",
        "mlnb.query_table", "mlnb.client_stats", "mlnb.sandbox", "mlnb.layers", "mlnb.workspace",
        "mlnb.workspace_init",
    ), "errors, files, secrets, the workspace and run folders, result files, the notebook kernel, the sandbox"),
    # What a benchmark is made of, with no engine: datasets and their workloads, models and tokenizers,
    # scoring, LoadGen logs, the TEST06 rules (the harness writes its audit config) and device figures.
    # config is here because its validators use the data formats (data.custom, data.synthetic) and the
    # device table (perf.devices), and models and workloads take StageParams.
    Layer("data and models", (
        "mlnb.config", "mlnb.data", "mlnb.models", "mlnb.workloads", "mlnb.accuracy", "mlnb.logs",
        "mlnb.compliance", "mlnb.perf",
    ), "parameters (config), datasets, workloads, models and tokenizers, scoring, logs, device figures"),
    # Inference engines behind one contract; server starts the vLLM server the openai backend calls.
    # telemetry samples the devices, the host and a server's /metrics while the harness runs (it reads the
    # managed server's process record, so it sits beside server).
    Layer("backends", ("mlnb.backends", "mlnb.server", "mlnb.telemetry"),
          "inference engines (hf, vllm, openai, sim), the managed server, telemetry sampled during a stage"),
    # The child processes that drive a backend: LoadGen's harness, and lm-eval's runner (its counterpart
    # for the MMLU stage); user_conf checks a user.conf with the harness's own settings planner.
    Layer("harness", ("mlnb.harness", "mlnb.lmeval", "mlnb.user_conf"), "the LoadGen harness and the lm-eval runner (child processes)"),
    # A stage: start its child process, score it, write summary.json.
    Layer("stages", ("mlnb.stages",), "one stage: run the child, score, write summary.json"),
    # Pages read what the layers below wrote. report and compare share a layer: the comparison reuses the
    # report's plots and helpers, the run index lists comparisons (compare.links); no module circle.
    Layer("pages", ("mlnb.report", "mlnb.compare"), "reports and comparisons: read results, write HTML"),
    # Whole runs: a preset's stages, sweeps of runs, and a submission folder made from a run.
    # leftovers stops what ended runs left behind (their recorded servers and marked processes).
    Layer("runs", ("mlnb.pipeline", "mlnb.sweep", "mlnb.submission", "mlnb.leftovers"),
          "a run of stages, a sweep of runs, a submission package, what ended runs left running"),
    # The same results as pandas DataFrames and charts for notebooks and exports: stages, runs and sweeps
    # (so above runs), drawn with the report's plot helpers.
    Layer("analysis", ("mlnb.analysis",), "results as DataFrames and charts: stages, runs, sweeps, exports"),
    # What people call: the command line, the JupyterLab widgets, the stage notebooks' helper.
    Layer("entry points", ("mlnb.cli", "mlnb.ui", "mlnb.notebook", "mlnb.seed_switches"),
          "the command line (and the Llama seed's switches), the widgets, the notebooks' helper"),
)


def layer_index(module: str) -> int | None:
    """The layer (0 = bottom) of a dotted module name, or None when the table has no place for it."""
    best: tuple[int, int] | None = None  # (length of the matched name, layer)
    for index, layer in enumerate(LAYERS):
        for prefix in layer.modules:
            # the package mlnb itself (its __init__) is matched by name only, not as everyone's prefix
            if module == prefix or (prefix != "mlnb" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def architecture_lines() -> list[str]:
    """The README's list, top layer first."""
    lines = []
    for layer in reversed(LAYERS):
        names = ", ".join(f"`{m.removeprefix('mlnb.')}`" for m in layer.modules if m not in ("mlnb", "mlnb.layers"))
        lines.append(f"- **{layer.name}** ({names}): {layer.role}")
    return lines
