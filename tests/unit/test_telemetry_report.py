"""The telemetry report section and what a comparison takes from telemetry."""

from __future__ import annotations

import copy

from mlnb.compare.comparability import stage_facts
from mlnb.compare.telemetry_diff import telemetry_differences
from mlnb.report.telemetry_view import telemetry_html, telemetry_parts

GPU = {"index": 0, "name": "NVIDIA H200", "power_limit_w": 700.0, "default_power_limit_w": 700.0, "persistence_mode": True,
       "ecc_current": True, "ecc_pending": True, "sm_clock_mhz": 1980, "mem_clock_mhz": 3201, "max_sm_clock_mhz": 1980,
       "max_mem_clock_mhz": 3201, "applications_sm_clock_mhz": 1980, "processes": [],
       "other_processes": [{"pid": 4242, "name": "<b>python</b>", "used_mib": 512, "ours": False}]}
TELEMETRY = {
    "enabled": True, "file": "telemetry.jsonl", "sample_hz": 2.0, "samples": 40, "window_s": 20.0,
    "sources": {"gpu": "NVML: 1 GPU(s)", "host_power": "not available: no RAPL", "processes": "harness process tree"},
    "aggregates": {"gpu0_power_w": {"mean": 350.0, "peak": 610.0, "samples": 40},
                   "host_cpu_pct": {"mean": 40.0, "peak": 90.0, "samples": 40}},
    "clock_event_reasons": ["software power cap"],
    "server": [{"url": "http://h/metrics", "origin": "base_url", "note": "no scrape succeeded: HTTP 404 (<script>x</script>)",
                "series": {}}],
    "energy": {"available": True, "source": "measured board power", "joules": 7000.0, "seconds": 20.0, "mean_power_w": 350.0,
               "output_tokens": 3500, "joules_per_output_token": 2.0, "output_tokens_per_s_per_kw": 500.0},
    "hardware": {"host": {"cpu_model": "X"}, "gpu": {"driver": "570.1", "cuda_driver": "12.8", "chosen": [0], "gpus": [GPU]},
                 "gpu_note": "NVML: 1 GPU(s)"},
    "errors": {},
}


def _summary(telemetry=TELEMETRY):
    return {"schema_version": 2, "stage": "01_offline_perf", "simulated": False, "telemetry": telemetry}


def test_section_shows_energy_table_and_escapes_what_servers_and_processes_say():
    top = telemetry_html(_summary(), "top")
    assert "2.0000 J" in top and "500.0" in top and "measured board power" in top
    assert "GPU 0 power draw" in top and "software power cap" in top
    details = telemetry_html(_summary(), "details")
    assert "&lt;script&gt;" in details and "<script>" not in details
    assert "&lt;b&gt;python&lt;/b&gt;" in details and "570.1" in details


def test_older_summary_and_telemetry_off_say_so():
    assert "predates telemetry" in telemetry_html(_summary(None))
    assert "telemetry=False" in telemetry_html(_summary({"enabled": False}))
    off = telemetry_html(_summary({**TELEMETRY, "energy": {"available": False, "source": "GPU not available: no driver"}}))
    assert "not available</b> (GPU not available: no driver)" in off


def test_parts_without_a_series_file_still_render(tmp_path):
    parts = telemetry_parts(_summary(), tmp_path)
    assert [p[0] for p in parts] == ["html", "html"]  # no figure without the series file


def test_comparison_lists_a_power_limit_change_and_telemetry_aggregates():
    other = copy.deepcopy(TELEMETRY)
    other["hardware"]["gpu"]["gpus"][0]["power_limit_w"] = 500.0
    other["aggregates"]["gpu0_power_w"]["mean"] = 300.0
    other["energy"]["joules_per_output_token"] = 1.5
    a, b = stage_facts(_summary()), stage_facts(_summary(other))
    assert a["hardware.gpu0.power_limit_w"] == ("hardware", 700.0) and b["hardware.gpu0.power_limit_w"][1] == 500.0
    assert a["hardware.gpu0.other_processes"][1] == 1
    diffs = {d.metric: d for d in telemetry_differences(_summary(), _summary(other))}
    assert diffs["telemetry.gpu0_power_w"].diff == -50.0
    assert diffs["energy.joules_per_output_token"].rel == -0.25
    assert "no interval" in diffs["telemetry.host_cpu_pct"].method
    assert telemetry_differences(_summary(None), _summary(None)) == []


def test_a_sampler_that_did_not_start_is_reported():
    note = {"enabled": True, "samples": 0, "note": "telemetry did not start: OSError: <boom>", "errors": {}}
    html = telemetry_html(_summary(note))
    assert "telemetry did not start: OSError: &lt;boom&gt;" in html
    assert telemetry_html(_summary(note), "details").count("<") < 10  # nothing else to show
