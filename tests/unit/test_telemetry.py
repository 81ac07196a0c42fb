"""Telemetry: the /metrics scraper against real local HTTP servers (no /metrics, garbage, a server
that dies mid-run), the series names of every vLLM spelling, energy integration, and the sampler
on this machine's real host (NVML and RAPL absent here are real conditions, reported as such)."""

from __future__ import annotations

import http.server
import os
import threading
import time

import pytest

from mlnb.telemetry import aggregate
from mlnb.telemetry.device import open_nvml, visible_indices
from mlnb.telemetry.energy import energy_figures, integrate_joules
from mlnb.telemetry.prometheus import ScrapeTarget, histogram_delta, metrics_url, parse_metrics
from mlnb.telemetry.sampler import TelemetrySampler

VLLM_PAGE = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 5.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} %(queries)s
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} %(hits)s
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{engine="0",model_name="m"} 2.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} %(fast)s
vllm:time_to_first_token_seconds_bucket{le="1.0",model_name="m"} %(count)s
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} %(count)s
vllm:time_to_first_token_seconds_sum{model_name="m"} %(total)s
vllm:time_to_first_token_seconds_count{model_name="m"} %(count)s
"""
# an older vLLM: gpu_* names, untyped samples with _total
OLD_VLLM_PAGE = """vllm:gpu_cache_usage_perc{model_name="m"} 0.75
vllm:gpu_prefix_cache_queries_total{model_name="m"} 10
vllm:gpu_prefix_cache_hits_total{model_name="m"} 4
vllm:num_requests_running{model_name="m"} 1
"""
SGLANG_PAGE = """# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 7
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m"} 2
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m"} 0.28
"""


def page(queries=100, hits=40, fast=1, count=4, total=1.2) -> str:
    return VLLM_PAGE % {"queries": queries, "hits": hits, "fast": fast, "count": count, "total": total}


class _Server:
    """A real HTTP server on a free port whose /metrics answer the test sets (status, body)."""

    def __init__(self):
        self.status, self.body = 200, page()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                data = outer.body.encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def die(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.die()


def test_metrics_url_drops_v1():
    assert metrics_url("http://h:8000/v1") == "http://h:8000/metrics"
    assert metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"
    assert metrics_url("http://h:8000") == "http://h:8000/metrics"


def test_vllm_names_current_and_older_and_sglang():
    now = parse_metrics(page())
    assert now.values["running"] == 3 and now.values["waiting"] == 5
    assert now.values["kv_cache_usage"] == 0.5  # a level: the fullest engine, not a sum
    assert now.values["prefix_cache_queries"] == 100 and now.values["preemptions"] == 2
    assert now.histograms["ttft_s"].count == 4
    old = parse_metrics(OLD_VLLM_PAGE)
    assert old.values["kv_cache_usage"] == 0.75 and old.values["prefix_cache_hits"] == 4
    assert old.names["kv_cache_usage"] == "vllm:gpu_cache_usage_perc"
    sglang = parse_metrics(SGLANG_PAGE)
    assert (sglang.values["running"], sglang.values["waiting"], sglang.values["kv_cache_usage"]) == (7, 2, 0.28)


def test_histogram_delta_between_first_and_last_scrape():
    first = parse_metrics(page(fast=1, count=4, total=1.2)).histograms["ttft_s"]
    last = parse_metrics(page(fast=7, count=14, total=4.2)).histograms["ttft_s"]
    delta = histogram_delta(first, last)
    assert delta["count"] == 10 and delta["mean"] == pytest.approx(0.3)
    assert delta["p50_at_most"] == 0.1 and delta["p99_at_most"] == 1.0  # 6 of 10 within 0.1 s


def test_scrape_a_server_with_no_metrics(server):
    target = ScrapeTarget(server.base_url.replace("/v1", "/nothing/v1"), "base_url")
    assert target.scrape(0.0) is None
    status = target.status()
    assert status["ok"] == 0 and status["failures"] == {"HTTP 404": 1}
    assert status["note"].startswith("no scrape succeeded: HTTP 404")


def test_scrape_garbage_and_a_page_without_known_series(server):
    server.body = "<html><body>not prometheus</body></html>"
    target = ScrapeTarget(metrics_url(server.base_url), "base_url")
    assert target.scrape(0.0) is None
    assert target.status()["failures"] == {"not Prometheus text": 1}
    server.body = "# TYPE other gauge\nother 1\n"
    assert target.scrape(1.0) is not None
    assert "none of the vLLM, SGLang or TGI series" in target.status()["note"]


def test_a_server_that_dies_mid_run_backs_off_and_is_reported(server):
    target = ScrapeTarget(metrics_url(server.base_url), "managed server")
    assert target.scrape(0.0).values["running"] == 3
    assert target.scrape(0.5) is not None
    server.die()
    started = time.monotonic()
    for k in range(1, 8):
        target.scrape(0.5 + k * 0.5)
    assert time.monotonic() - started < 10  # a dead server answers at once; after 3 failures it is skipped
    status = target.status()
    assert status["ok"] == 2 and status["failures"]["unreachable"] == 3
    assert "stopped answering at t=1.0s after 2 good scrapes" in status["note"]


def test_energy_trapezoid_and_figures():
    assert integrate_joules([0, 1, 2, 3], [100, 200, None, 300]) == pytest.approx(150.0)
    assert integrate_joules([0, 1], [None, 5]) is None
    figures = energy_figures(1000.0, 10.0, 500, "measured")
    assert figures["joules_per_output_token"] == pytest.approx(2.0)
    assert figures["output_tokens_per_s_per_kw"] == pytest.approx(500.0)  # 50 tok/s at 0.1 kW
    assert energy_figures(None, 10.0, 500, "measured") == {"available": False, "source": "measured"}


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    uuids = ["GPU-aaa", "GPU-bbb", "GPU-ccc"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_indices(uuids) == [0, 1, 2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,GPU-a,7,1")  # CUDA stops at the first entry naming no GPU
    assert visible_indices(uuids) == [2, 0]
    assert visible_indices(uuids, "cuda:1") == [0]


@pytest.mark.skipif(open_nvml()[0] is not None, reason="this machine has an NVIDIA driver")
def test_without_an_nvidia_driver_nvml_says_not_available():
    nvml, note = open_nvml()
    assert nvml is None and note.startswith("not available:")


def test_sampler_on_this_host_with_a_server_that_dies(server, tmp_path):
    """The real sampler thread: psutil series, a /metrics that dies after a while, energy said plainly."""
    counts = {"issued": 0}

    def progress():
        counts["issued"] += 2
        return counts["issued"], counts["issued"] // 2, counts["issued"] * 5

    sampler = TelemetrySampler(progress, [ScrapeTarget(metrics_url(server.base_url), "base_url")], None)
    sampler.start()
    busy_until = time.monotonic() + 1.2
    while time.monotonic() < busy_until:  # some CPU for psutil to see
        sum(range(1000))
    server.body = page(queries=200, hits=90)  # 100 more prefix-cache token queries, 50 of them hits
    time.sleep(0.8)
    server.die()
    time.sleep(1.0)
    sampler.stop()
    out = aggregate.finish(sampler, tmp_path, sampler.rows[0]["mono_s"], 3.0)
    assert out["samples"] >= 4 and (tmp_path / "telemetry.jsonl").is_file()
    assert 0 < out["sampler_cpu_s"] and out["sampler_core_share"] < 0.5
    assert out["aggregates"]["harness_rss_mib"]["peak"] > 10
    assert out["aggregates"]["in_flight"]["peak"] > 0
    assert out["aggregates"]["srv_running"]["mean"] == 3
    assert "stopped answering" in out["server"][0]["note"]
    assert out["server"][0]["prefix_cache_hit_rate"] == 0.5
    if sampler.nvml is None and sampler.rapl is None:
        assert out["energy"]["available"] is False and "not available" in out["energy"]["source"]
    assert out["hardware"]["host"]["logical_cpus"] == os.cpu_count()
