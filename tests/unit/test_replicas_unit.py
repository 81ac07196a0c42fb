"""Replicas without processes: device choice, the devices field, per-replica figures, the worker's environment."""

from __future__ import annotations

import pytest

from mlnb.backends.device_choice import choose_devices, most_free
from mlnb.backends.hf import pick_device
from mlnb.config import StageParams, parse_set_option
from mlnb.errors import InputError
from mlnb.harness.replicas import CUDA_CHILD_ENV, make_backend, replica_devices, worker_env
from mlnb.report.replica_view import replica_figures, replica_html

GIB = 2**30


def test_auto_takes_the_gpu_with_most_free_memory_and_says_which():
    pairs = [(0, 10 * GIB), (1, 70 * GIB), (2, 30 * GIB), (3, 70 * GIB)]
    assert most_free(pairs) == [1]  # a tie goes to the lower index
    assert most_free(pairs, 3) == [1, 3, 2]
    devices, why = choose_devices(1, pairs)
    assert devices == ["cuda:1"] and "cuda:1 (70.0 GiB free)" in why and "4 visible GPUs" in why
    assert choose_devices(2, pairs)[0] == ["cuda:1", "cuda:3"]
    with pytest.raises(ValueError, match="only 4 CUDA GPUs"):
        choose_devices(5, pairs)


def test_auto_without_a_gpu_is_the_cpu(capsys):
    assert choose_devices(2, []) == (["cpu", "cpu"], "device=auto: no CUDA GPU visible, using the CPU")
    assert pick_device("auto") == "cpu"  # this machine has no CUDA GPU: the real branch
    assert "no CUDA GPU visible" in capsys.readouterr().out
    assert pick_device("cuda:3") == "cuda:3"


def test_devices_field():
    assert StageParams(devices="cpu, cpu").replica_count == 2
    assert StageParams(replicas=3).replica_count == 3
    for bad, says in (("cuda:0,cuda:0", "named twice"), ("gpu0", "not cpu or cuda:N")):
        with pytest.raises(ValueError, match=says):
            StageParams(devices=bad)
    with pytest.raises(ValueError, match="2 devices for replicas=3"):
        StageParams(replicas=3, devices="cuda:0,cuda:1")
    with pytest.raises(InputError, match="--set devices=cuda:1,cuda:1"):
        parse_set_option("devices=cuda:1,cuda:1")
    assert parse_set_option("replica_failure=continue") == (None, "replica_failure", "continue")


def test_replica_devices_and_refusals():
    assert replica_devices(StageParams(backend="sim", replicas=2))[0] == ["auto", "auto"]
    assert replica_devices(StageParams(backend="hf", replicas=2, device="cpu"))[0] == ["cpu", "cpu"]
    assert replica_devices(StageParams(backend="hf", devices="cuda:2,cuda:5"))[0] == ["cuda:2", "cuda:5"]
    with pytest.raises(InputError, match="name one device per replica"):
        replica_devices(StageParams(backend="hf", replicas=2, device="cuda:0"))
    with pytest.raises(InputError, match="replicas run the hf and sim backends"):
        make_backend(StageParams(backend="openai", replicas=2))


def test_workers_on_cuda_keep_nvlink_multicast_off():
    env = worker_env("cuda:1", 1, "k", 2)
    assert all(env[k] == v for k, v in CUDA_CHILD_ENV.items())
    assert env["NCCL_NVLS_ENABLE"] == "0" and env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert env["MLNB_REPLICA_INDEX"] == "1"


ROWS = [
    # replica 0: two queries of 10 tokens; replica 1: one of 10 and one failed
    {"issued_ms": 0, "first_token_ms": 100, "done_ms": 1000, "output_tokens": 10, "replica": 0, "error": None},
    {"issued_ms": 0, "first_token_ms": 300, "done_ms": 2000, "output_tokens": 10, "replica": 0, "error": None},
    {"issued_ms": 0, "first_token_ms": 200, "done_ms": 1100, "output_tokens": 10, "replica": 1, "error": None},
    {"issued_ms": 500, "first_token_ms": None, "done_ms": 600, "output_tokens": 0, "replica": 1, "error": "replica 1 (cpu) died"},
]


def test_per_replica_figures_add_up_to_the_total():
    figures = replica_figures(ROWS)
    assert [f["replica"] for f in figures] == [0, 1, "total"]
    zero, one, total = figures
    assert (zero["queries"], zero["errors"], zero["output_tokens"]) == (2, 0, 20)
    assert (one["queries"], one["errors"]) == (2, 1)
    assert zero["tokens_per_s"] == pytest.approx(10.0) and one["tokens_per_s"] == pytest.approx(5.0)
    assert total["tokens_per_s"] == pytest.approx(zero["tokens_per_s"] + one["tokens_per_s"])
    assert zero["ttft_p50_ms"] == 300 and one["ttft_p50_ms"] == 200  # order statistics, per replica
    assert one["tpot_p50_ms"] == pytest.approx(100.0)
    assert replica_figures([{k: v for k, v in r.items() if k != "replica"} for r in ROWS]) == []


def test_replica_table_renders_inert_and_names_a_dead_replica():
    engine = {"replicas": [{"index": 0, "device": "cpu", "alive": True}, {"index": 1, "device": "<b>x</b>", "alive": False}],
              "replica_routing": "least outstanding tokens", "replica_failure": "continue",
              "replica_failures": ["replica 1 (<b>x</b>) died (killed by signal 9) with 1 queries in flight"]}
    page = replica_html({"engine": engine}, ROWS)
    assert "<h3>Replicas</h3>" in page and "(died)" in page and "<b>x</b>" not in page and "&lt;b&gt;" in page
    assert page.count("<tr>") == 4  # header, two replicas, total
    assert replica_html({"engine": {}}, [{k: v for k, v in r.items() if k != "replica"} for r in ROWS]) == ""


def test_dtype_names_map_to_torch_dtypes_on_cuda_and_cpu():
    import torch

    from mlnb.backends.hf import pick_dtype

    assert pick_dtype("float16", "cuda:0") is torch.float16
    assert pick_dtype("bfloat16", "cuda:1") is torch.bfloat16
    assert pick_dtype("auto", "cuda:0") is torch.bfloat16 and pick_dtype("auto", "cpu") is torch.float32
    assert pick_dtype("float16", "cpu") is torch.float16  # taken as asked on a CPU too (it runs, slowly)


def test_several_openai_servers_get_a_row_each():
    rows = [{**r, "server": f"http://h{r['replica']}:8000/v1"} for r in ROWS]
    for row in rows:
        del row["replica"]
    figures = replica_figures(rows)
    assert [f["replica"] for f in figures] == ["http://h0:8000/v1", "http://h1:8000/v1", "total"]
    assert figures[0]["queries"] == 2 and figures[1]["errors"] == 1
    assert "One row per server" in replica_html({"engine": {}}, rows)
    one_server = [{**r, "server": "http://h0:8000/v1"} for r in rows]
    assert replica_figures(one_server) == []


def test_one_server_per_device_sees_only_its_gpu():
    from mlnb.config import ServerSpec
    from mlnb.server.managed import device_env

    assert device_env("cuda:3") == {"CUDA_VISIBLE_DEVICES": "3", "NCCL_NVLS_ENABLE": "0",
                                    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
    assert device_env("cpu") == {"CUDA_VISIBLE_DEVICES": ""} and device_env(None) == {}
    assert ServerSpec(devices=["cuda:0", "cuda:1"]).devices == ["cuda:0", "cuda:1"]
    with pytest.raises(ValueError, match="named twice"):
        ServerSpec(devices=["cuda:1", "cuda:1"])
