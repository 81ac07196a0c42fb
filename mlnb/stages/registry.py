"""The pipeline's stages, in order. A preset picks a subset; it cannot invent new ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlnb.registry import Registry


@dataclass(frozen=True)
class StageSpec:
    name: str
    notebook: str  # file name under notebooks/
    kind: str  # "loadgen": one LoadGen test; "lmeval": an lm-eval task; "summary": reads the other stages
    defaults: dict[str, Any] = field(default_factory=dict)
    title: str = ""


STAGES: Registry[StageSpec] = Registry("stage")

for _spec in (
    StageSpec("01_offline_perf", "01_offline_perf.ipynb", "loadgen", {"scenario": "Offline", "mode": "performance"}, "Offline performance"),
    StageSpec("02_offline_accuracy", "02_offline_accuracy.ipynb", "loadgen", {"scenario": "Offline", "mode": "accuracy"}, "Offline accuracy (ROUGE)"),
    StageSpec("03_server_perf", "03_server_perf.ipynb", "loadgen", {"scenario": "Server", "mode": "performance"}, "Server performance"),
    StageSpec("04_server_accuracy", "04_server_accuracy.ipynb", "loadgen", {"scenario": "Server", "mode": "accuracy"}, "Server accuracy (ROUGE)"),
    StageSpec("05_singlestream_perf", "05_singlestream_perf.ipynb", "loadgen", {"scenario": "SingleStream", "mode": "performance"}, "SingleStream performance"),
    StageSpec("06_offline_test06", "06_offline_test06.ipynb", "loadgen", {"scenario": "Offline", "mode": "test06"}, "Offline TEST06 compliance"),
    StageSpec("07_server_test06", "07_server_test06.ipynb", "loadgen", {"scenario": "Server", "mode": "test06"}, "Server TEST06 compliance"),
    StageSpec("08_mmlu", "08_mmlu.ipynb", "lmeval", {}, "MMLU accuracy (lm-eval)"),
    StageSpec("99_run_summary", "99_run_summary.ipynb", "summary", {}, "Run summary"),
    # DeepSeek-R1: Interactive is a Server run under the deepseek-r1-interactive model key.
    StageSpec("10_dsr1_offline_perf", "10_dsr1_offline_perf.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Offline", "mode": "performance"}, "DeepSeek-R1 Offline performance"),
    StageSpec("11_dsr1_offline_accuracy", "11_dsr1_offline_accuracy.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Offline", "mode": "accuracy"}, "DeepSeek-R1 Offline accuracy (exact match)"),
    StageSpec("12_dsr1_server_perf", "12_dsr1_server_perf.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Server", "mode": "performance"}, "DeepSeek-R1 Server performance"),
    StageSpec("13_dsr1_interactive_perf", "13_dsr1_interactive_perf.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Interactive", "mode": "performance"}, "DeepSeek-R1 Interactive performance"),
    # A DeepSeek-R1 submission needs accuracy/ and TEST06/ in every scenario folder it has.
    StageSpec("14_dsr1_server_accuracy", "14_dsr1_server_accuracy.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Server", "mode": "accuracy"}, "DeepSeek-R1 Server accuracy (exact match)"),
    StageSpec("15_dsr1_interactive_accuracy", "15_dsr1_interactive_accuracy.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Interactive", "mode": "accuracy"}, "DeepSeek-R1 Interactive accuracy (exact match)"),
    StageSpec("16_dsr1_offline_test06", "16_dsr1_offline_test06.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Offline", "mode": "test06"}, "DeepSeek-R1 Offline TEST06 compliance"),
    StageSpec("17_dsr1_server_test06", "17_dsr1_server_test06.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Server", "mode": "test06"}, "DeepSeek-R1 Server TEST06 compliance"),
    StageSpec("18_dsr1_interactive_test06", "18_dsr1_interactive_test06.ipynb", "loadgen", {"workload": "deepseek-r1", "scenario": "Interactive", "mode": "test06"}, "DeepSeek-R1 Interactive TEST06 compliance"),
    # The edge benchmark (llama3.1-8b-edge) needs Offline and SingleStream, each with accuracy/.
    StageSpec("20_edge_offline_perf", "20_edge_offline_perf.ipynb", "loadgen", {"scenario": "Offline", "mode": "performance", "model_key": "llama3_1-8b-edge"}, "Edge Offline performance"),
    StageSpec("21_edge_offline_accuracy", "21_edge_offline_accuracy.ipynb", "loadgen", {"scenario": "Offline", "mode": "accuracy", "model_key": "llama3_1-8b-edge"}, "Edge Offline accuracy (ROUGE)"),
    StageSpec("22_singlestream_accuracy", "22_singlestream_accuracy.ipynb", "loadgen", {"scenario": "SingleStream", "mode": "accuracy"}, "SingleStream accuracy (ROUGE)"),
):
    STAGES.add(_spec.name, _spec)
