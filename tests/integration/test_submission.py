"""Submission packages: build from simulator runs, check them, break them on purpose."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.errors import InputError
from mlnb.submission.checks import check_package, format_failures, system_field_rules
from mlnb.submission.package import build_package
from mlnb.submission.truncate import accuracy_txt_with_hash, hash_in_accuracy_txt, truncate_accuracy_log

pytestmark = pytest.mark.slow

SIM_FAST = [
    "--backend", "sim",
    "--set", "sim_tpot_ms=1", "--set", "sim_ttft_ms=5",
    "--set", "03_server_perf.target_qps=20", "--set", "04_server_accuracy.target_qps=20",
]
STAGES = "01_offline_perf,02_offline_accuracy,03_server_perf,04_server_accuracy"
SAMPLES = "16"  # enough for an accuracy log over 10 KiB, so the package has to truncate it
LINE = re.compile(r"^(?P<path>[^:]+): (?P<rule>[a-z0-9-]+): (?P<detail>.+)$")
RESULTS = "closed/acme/results/sys1/llama3.1-8b"


def mlnb(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "mlnb.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def complete_system_json(path: Path, division: str = "closed") -> Path:
    required, _ = system_field_rules(division)
    numeric = ("count", "per_node", "number")
    data = {name: "1" if any(word in name for word in numeric) else f"some {name}" for name in required}
    data.update(division=division, submitter="acme", status="available", system_type="datacenter",
                system_name="one simulated box")
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("submission")
    result = mlnb(
        "run", "--preset", "smoke", "--outputs", root / "outputs", "--run-id", "r1", "--stages", STAGES,
        "--samples", SAMPLES, *SIM_FAST, timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    r1 = root / "outputs" / "r1"

    # A later run with a second Server accuracy stage and a real Server TEST06 compliance stage
    # (Offline gets none, so the check must report it missing).
    result = mlnb(
        "run", "--preset", "smoke", "--outputs", root / "outputs", "--run-id", "r2",
        "--stages", "04_server_accuracy,07_server_test06", "--samples", SAMPLES, *SIM_FAST[:6],  # no 03_server_perf here
        "--set", "04_server_accuracy.target_qps=20", "--set", "07_server_test06.target_qps=50", timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    r2 = root / "outputs" / "r2"
    assert "TEST06 verification complete" in (r2 / "07_server_test06" / "verify_accuracy.txt").read_text()
    return {"root": root, "r1": r1, "r2": r2, "system_json": complete_system_json(root / "system.json")}


@pytest.fixture(scope="module")
def package(work):
    out = work["root"] / "package"
    # r2 given first: the run that started later wins, whatever the order on the command line.
    result = mlnb(
        "submission", "build", work["r2"], work["r1"], "--out", out, "--division", "closed", "--submitter", "acme",
        "--system-name", "sys1", "--system-json", work["system_json"], "--allow-non-submittable",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problems" in result.stdout
    return out


@pytest.fixture(scope="module")
def baseline(package):
    return {(f.path, f.rule) for f in check_package(package)}


def failures_of(root: Path) -> dict[tuple[str, str], str]:
    return {(f.path, f.rule): f.detail for f in check_package(root)}


def broken_copy(package: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "package"
    shutil.copytree(package, copy)
    return copy


# --------------------------------------------------------------------------------------- build


def test_build_refuses_non_submittable_stage_in_one_line(work):
    out = work["root"] / "refused"
    result = mlnb(
        "submission", "build", work["r1"], "--out", out, "--submitter", "acme", "--system-name", "sys1",
        "--system-json", work["system_json"],
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "01_offline_perf" in lines[0]
    assert "min_duration 0 ms < 600000 ms required" in lines[0]  # a relaxed rule, verbatim
    assert "--allow-non-submittable" in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_package_tree_has_mlperf_names(package):
    base = package / "closed" / "acme"
    assert (base / "systems" / "sys1.json").is_file()
    assert (base / "src" / "README.md").is_file()
    for scenario in ("Offline", "Server"):
        folder = package / RESULTS / scenario
        for rel in (
            "performance/run_1/mlperf_log_summary.txt",
            "performance/run_1/mlperf_log_detail.txt",
            "accuracy/mlperf_log_summary.txt",
            "accuracy/mlperf_log_detail.txt",
            "accuracy/accuracy.txt",
            "accuracy/mlperf_log_accuracy.json",
            "measurements.json",
            "user.conf",
            "README.md",
        ):
            assert (folder / rel).is_file(), f"{scenario}/{rel}"
        measurements = json.loads((folder / "measurements.json").read_text())
        for key in ("input_data_types", "retraining", "starting_weights_filename", "weight_data_types",
                    "weight_transformations"):
            assert measurements[key]
    assert sorted(p.name for p in (package / RESULTS).iterdir()) == ["Offline", "Server"]
    # TEST06 comes from the stage that has it (Server, in r2); Offline has none.
    assert (package / RESULTS / "Server" / "TEST06" / "verify_accuracy.txt").is_file()
    assert (package / RESULTS / "Server" / "TEST06" / "accuracy" / "mlperf_log_accuracy.json").is_file()
    assert not (package / RESULTS / "Offline" / "TEST06").exists()
    assert not list(package.parent.glob(".package.*"))  # no leftover staging folder


def test_latest_run_wins_and_pairs_may_cross_runs(package):
    server = (package / RESULTS / "Server" / "README.md").read_text()
    performance, accuracy = server.split("## Accuracy")[0], server.split("## Accuracy")[1]
    assert "run `r1`, stage `03_server_perf`" in performance
    assert "run `r2`, stage `04_server_accuracy`" in accuracy.split("## TEST06")[0]


def test_not_for_submission_marks(package, work):
    marker = (package / "NOT_FOR_SUBMISSION.txt").read_text()
    for stage in ("01_offline_perf", "02_offline_accuracy", "03_server_perf", "04_server_accuracy", "07_server_test06"):
        assert stage in marker
    summary = json.loads((work["r1"] / "01_offline_perf" / "summary.json").read_text())
    for rule in summary["relaxed_rules"]:
        assert f"  - {rule}" in marker
    for readme in (package / "closed").rglob("README.md"):
        first = readme.read_text().splitlines()[0]
        assert first.startswith("**NOT FOR SUBMISSION") and first.endswith("**"), readme
    assert (package / "closed").is_dir()  # the division is named as asked


def test_readme_says_how_it_was_made_without_local_paths(package, work):
    text = (package / RESULTS / "Offline" / "README.md").read_text()
    assert "mlnb run --preset smoke" in text and "--set backend=sim" in text
    assert "samples=16" in text
    src = (package / "closed" / "acme" / "src" / "README.md").read_text()
    assert "git revision" in src
    for path in package.rglob("*"):
        if path.is_file() and path.suffix in {".md", ".json", ".txt"} and "mlperf_log" not in path.name:
            assert str(work["root"]) not in path.read_text(errors="replace"), path


def test_accuracy_log_truncated_and_hash_of_the_full_log(package, work):
    for scenario, run, stage in (("Offline", "r1", "02_offline_accuracy"), ("Server", "r2", "04_server_accuracy")):
        original = work[run] / stage / "loadgen" / "mlperf_log_accuracy.json"
        packaged = package / RESULTS / scenario / "accuracy" / "mlperf_log_accuracy.json"
        assert original.stat().st_size > 10 * 1024  # the test means something only if it had to cut
        assert packaged.stat().st_size <= 10 * 1024
        full, cut = original.read_bytes(), packaged.read_bytes()
        assert cut.startswith(full[:4096]) and cut.endswith(full[-4096:])
        text = (package / RESULTS / scenario / "accuracy" / "accuracy.txt").read_text()
        lines = text.splitlines()
        assert lines[0] == (work[run] / stage / "accuracy.txt").read_text().strip()
        assert lines[-1] == f"hash={hashlib.sha256(full).hexdigest()}"
        assert re.match(r".*'rouge1':\s'([\d.]+)'.*", lines[0]) and re.match(r".*'gen_len':\s([\d.]+).*", lines[0])


def test_out_is_never_overwritten(package, work):
    before = sorted(str(p) for p in package.rglob("*"))
    result = mlnb(
        "submission", "build", work["r1"], "--out", package, "--submitter", "acme", "--system-name", "sys1",
        "--system-json", work["system_json"], "--allow-non-submittable",
    )
    assert result.returncode == 2 and "already exists" in result.stderr
    assert sorted(str(p) for p in package.rglob("*")) == before


def test_bad_names_are_refused(work, tmp_path):
    with pytest.raises(InputError, match="--division"):
        build_package([work["r1"]], tmp_path / "p", division="closedd", submitter="acme", system_name="sys1",
                      system_json=work["system_json"], allow_non_submittable=True)
    with pytest.raises(InputError, match="--system-name"):
        build_package([work["r1"]], tmp_path / "p", division="closed", submitter="acme", system_name="../x",
                      system_json=work["system_json"], allow_non_submittable=True)


# --------------------------------------------------------------------------------------- check


def test_check_reports_each_problem_in_one_line(package):
    result = mlnb("submission", "check", package)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed) if not m]
    found = {(m["path"], m["rule"]) for m in parsed}
    offline_perf = f"{RESULTS}/Offline/performance/run_1/mlperf_log_detail.txt"
    expected = {
        ("NOT_FOR_SUBMISSION.txt", "not-for-submission"),
        (offline_perf, "min-duration"),
        (offline_perf, "performance-sample-count"),
        (offline_perf, "offline-sample-count"),
        (f"{RESULTS}/Server/performance/run_1/mlperf_log_detail.txt", "min-duration"),
        (f"{RESULTS}/Offline/accuracy/mlperf_log_detail.txt", "accuracy-sample-count"),
        (f"{RESULTS}/Offline/TEST06", "test06"),
        (f"{RESULTS}/Offline/accuracy/accuracy.txt", "accuracy-target"),
        (f"{RESULTS}/Server/accuracy/accuracy.txt", "accuracy-target"),
    }
    assert expected <= found, "\n".join(lines)
    assert (f"{RESULTS}/Server/TEST06", "test06") not in found  # r2 brought it
    rules = {rule for _, rule in found}
    assert not rules & {"seeds", "token-latencies", "required-file", "measurements", "system-json", "accuracy-hash",
                        "accuracy-log-size", "loadgen-errors", "log-mode", "log-scenario"}, "\n".join(lines)
    gen_len = next(line for line in lines if "Offline/accuracy/accuracy.txt: accuracy-target" in line)
    assert "gen_len" in gen_len


def test_check_finds_a_deleted_required_file(package, baseline, tmp_path):
    root = broken_copy(package, tmp_path)
    (root / RESULTS / "Offline" / "accuracy" / "mlperf_log_summary.txt").unlink()
    (root / RESULTS / "Server" / "user.conf").unlink()
    new = set(failures_of(root)) - baseline
    assert new == {
        (f"{RESULTS}/Offline/accuracy/mlperf_log_summary.txt", "required-file"),
        (f"{RESULTS}/Server/user.conf", "required-file"),
    }


def test_check_finds_an_edited_seed(package, baseline, tmp_path):
    root = broken_copy(package, tmp_path)
    detail = root / RESULTS / "Offline" / "performance" / "run_1" / "mlperf_log_detail.txt"
    text = detail.read_text()
    edited = re.sub(r'("key": "effective_qsl_rng_seed", "value": )\d+', r"\g<1>1234", text)
    assert edited != text
    detail.write_text(edited)
    failures = failures_of(root)
    assert set(failures) - baseline == {(f"{RESULTS}/Offline/performance/run_1/mlperf_log_detail.txt", "seeds")}
    assert "1234" in failures[(f"{RESULTS}/Offline/performance/run_1/mlperf_log_detail.txt", "seeds")]


def test_check_finds_an_oversized_accuracy_log(package, baseline, tmp_path, work):
    root = broken_copy(package, tmp_path)
    shutil.copyfile(work["r1"] / "02_offline_accuracy" / "loadgen" / "mlperf_log_accuracy.json",
                    root / RESULTS / "Offline" / "accuracy" / "mlperf_log_accuracy.json")
    new = set(failures_of(root)) - baseline
    assert new == {(f"{RESULTS}/Offline/accuracy/mlperf_log_accuracy.json", "accuracy-log-size")}


def test_check_finds_broken_accuracy_txt_measurements_and_test06(package, baseline, tmp_path):
    root = broken_copy(package, tmp_path)
    txt = root / RESULTS / "Offline" / "accuracy" / "accuracy.txt"
    txt.write_text(txt.read_text().splitlines()[0] + "\n")  # hash line gone
    measurements = root / RESULTS / "Offline" / "measurements.json"
    data = json.loads(measurements.read_text())
    data["weight_data_types"] = ""
    del data["retraining"]
    measurements.write_text(json.dumps(data))
    verify = root / RESULTS / "Server" / "TEST06" / "verify_accuracy.txt"
    verify.write_text(verify.read_text().replace("EOS check pass: True", "EOS check pass: False"))
    failures = failures_of(root)
    assert set(failures) - baseline == {
        (f"{RESULTS}/Offline/accuracy/accuracy.txt", "accuracy-hash"),
        (f"{RESULTS}/Offline/measurements.json", "measurements"),
        (f"{RESULTS}/Server/TEST06/verify_accuracy.txt", "test06"),
    }
    details = [f.detail for f in check_package(root) if f.rule == "measurements"]
    assert details == ["missing fields: retraining", "empty fields: weight_data_types"]


def test_format_failures_is_one_line_each(package):
    failures = check_package(package)
    text = format_failures(failures)
    assert text.splitlines() == [f"{f.path}: {f.rule}: {f.detail}" for f in failures]


# ------------------------------------------------------------------------------------ truncate


def test_truncate_a_synthetic_big_log(tmp_path):
    entries = [
        {"seq_id": i, "qsl_idx": i, "data": os.urandom(256).hex().upper(), "token_count": 64} for i in range(300)
    ]
    src = tmp_path / "mlperf_log_accuracy.json"
    src.write_text("[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n")
    full = src.read_bytes()
    assert len(full) > 100 * 1024

    sha = truncate_accuracy_log(src, tmp_path / "out" / "mlperf_log_accuracy.json")
    cut = (tmp_path / "out" / "mlperf_log_accuracy.json").read_bytes()
    assert sha == hashlib.sha256(full).hexdigest()
    assert len(cut) <= 10 * 1024
    assert cut[:4096] == full[:4096] and cut[-4096:] == full[-4096:]
    assert src.read_bytes() == full  # the source is untouched

    small = tmp_path / "small.json"
    small.write_text(json.dumps(entries[:2]))
    assert truncate_accuracy_log(small, tmp_path / "small_out.json") == hashlib.sha256(small.read_bytes()).hexdigest()
    assert (tmp_path / "small_out.json").read_bytes() == small.read_bytes()

    line = (
        "{'rouge1': '38.8638', 'rouge2': '16.2134', 'rougeL': '24.5295', 'rougeLsum': '35.8712', "
        "'gen_len': 3077653, 'gen_num': 5000}"
    )
    text = accuracy_txt_with_hash(line + "\n", sha)
    assert text == f"{line}\nhash={sha}\n"
    assert accuracy_txt_with_hash(text, "0" * 64) == f"{line}\nhash={'0' * 64}\n"  # one hash line, the new one
    assert hash_in_accuracy_txt(text) == sha
    with pytest.raises(ValueError):
        accuracy_txt_with_hash(line, "not-a-hash")


def test_package_from_an_embedded_model_run(tmp_path):
    """The same build and check on runs of the real embedded model (short answers to keep CI quick)."""
    result = mlnb(
        "run", "--preset", "smoke", "--outputs", tmp_path / "outputs", "--run-id", "real",
        "--stages", "01_offline_perf,02_offline_accuracy", "--set", "max_new_tokens=32", timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "pkg"
    built = mlnb(
        "submission", "build", tmp_path / "outputs" / "real", "--out", out, "--division", "open",
        "--submitter", "acme", "--system-name", "cpu-box", "--allow-non-submittable",
        "--system-json", complete_system_json(tmp_path / "system.json", division="open"),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    offline = out / "open/acme/results/cpu-box/llama3.1-8b/Offline"
    accuracy_txt = (offline / "accuracy" / "accuracy.txt").read_text()
    assert re.search(r"'rouge1': '[\d.]+'", accuracy_txt) and hash_in_accuracy_txt(accuracy_txt)
    measurements = json.loads((offline / "measurements.json").read_text())
    assert measurements["starting_weights_filename"] and "simulated" not in json.dumps(measurements)
    checked = mlnb("submission", "check", out)
    assert checked.returncode == 1
    rules = {LINE.match(line)["rule"] for line in checked.stdout.splitlines()}
    assert {"min-duration", "accuracy-target", "not-for-submission", "required-scenarios"} <= rules, checked.stdout


# ------------------------------------------------------------------- complete packages
# The full preset's Llama stages (01-04 above, 06/07 TEST06), the edge benchmark (05 and 20-22) and
# the deepseek-r1 preset, all on the simulator: a package with every folder the checker wants, in
# which only the short runs (and the simulator's answers) stand between it and a submission.

SIM_TINY = [
    "--backend", "sim", "--set", "model=embedded", "--set", "dataset=embedded",
    "--set", "sim_tpot_ms=1", "--set", "sim_ttft_ms=5", "--set", "min_duration_ms=0",
    "--set", "target_qps=50", "--set", "target_latency_ms=100",
]
EDGE_AND_TEST06 = "06_offline_test06,05_singlestream_perf,22_singlestream_accuracy,20_edge_offline_perf,21_edge_offline_accuracy"
# Every stage of the deepseek-r1 preset but its summary.
DSR1_STAGES = ",".join(f"{n}_dsr1_{s}" for n, s in (
    (10, "offline_perf"), (11, "offline_accuracy"), (12, "server_perf"), (13, "interactive_perf"),
    (14, "server_accuracy"), (15, "interactive_accuracy"), (16, "offline_test06"), (17, "server_test06"),
    (18, "interactive_test06"),
))
BASE = "closed/acme"
SYSTEM = f"{BASE}/results/sys1"
# mlnb check's rules that a short run (few samples, no 600 s) breaks, and what a simulated answer fails.
SHORT_RUN_RULES = {"min-duration", "performance-sample-count", "offline-sample-count", "accuracy-sample-count",
                   "early-stopping", "result-validity"}
SIMULATED_RULES = {"accuracy-target", "not-for-submission"}


@pytest.fixture(scope="module")
def complete(work):
    root = work["root"]
    for run_id, args in (
        ("r3", ["--preset", "full", "--stages", EDGE_AND_TEST06, "--samples", "4", "--set", "min_query_count=4"]),
        ("r4", ["--preset", "deepseek-r1", "--stages", DSR1_STAGES, "--samples", "2", "--set", "max_new_tokens=48",
                "--set", "min_query_count=2"]),
    ):
        result = mlnb("run", *args, "--outputs", root / "outputs", "--run-id", run_id, *SIM_TINY, timeout=1200)
        assert result.returncode == 0, result.stdout + result.stderr
    runs = [work["r1"], work["r2"], root / "outputs" / "r3", root / "outputs" / "r4"]
    out = root / "complete"
    # No --system-json: the description of this machine, with defaults from what was run.
    built = mlnb("submission", "build", *runs, "--out", out, "--submitter", "acme", "--system-name", "sys1",
                 "--allow-non-submittable")
    assert built.returncode == 0, built.stdout + built.stderr
    return {"runs": runs, "package": out, "root": root}


def test_calibration_doc_is_written_and_checked(complete, tmp_path):
    doc = complete["package"] / BASE / "documentation" / "calibration.md"
    text = doc.read_text()
    for benchmark in ("llama3.1-8b", "llama3.1-8b-edge", "deepseek-r1"):
        assert f"## {benchmark}" in text
    assert "Simulated backend: no model ran" in text and text.startswith("**NOT FOR SUBMISSION")
    assert not any(f.path.endswith("calibration.md") for f in check_package(complete["package"]))
    root = broken_copy(complete["package"], tmp_path)
    (root / BASE / "documentation" / "calibration.md").unlink()
    assert failures_of(root)[(f"{BASE}/documentation/calibration.md", "required-file")].startswith("missing")


def test_default_system_description_is_valid(complete):
    from mlnb.submission.sysinfo import MEANINGFUL_FIELDS, REQUIRED_FIELDS, collect_system_description

    data = json.loads((complete["package"] / BASE / "systems" / "sys1.json").read_text())
    assert data["system_type"] == "datacenter,edge"  # llama3.1-8b and deepseek-r1 are datacenter, -edge is edge
    assert data["status"] == "rdi"
    assert set(REQUIRED_FIELDS) <= set(data)
    assert [name for name in MEANINGFUL_FIELDS if not str(data[name]).strip()] == []
    detected = collect_system_description().description
    for name in ("host_processor_model_name", "host_processor_core_count", "host_memory_capacity",
                 "host_storage_type", "host_networking", "host_network_card_count", "host_networking_topology"):
        if detected[name]:
            assert data[name] == detected[name], name
    sources = data["mlnb_observed_settings"]["set_by_submission_build"]
    assert "benchmarks packaged" in sources["system_type"] and "status" in sources
    not_given = sorted(name for name in MEANINGFUL_FIELDS if data[name] == "not given (package NOT FOR SUBMISSION)")
    marker = (complete["package"] / "NOT_FOR_SUBMISSION.txt").read_text()
    assert all(name in marker for name in not_given)
    assert not any(f.rule == "system-json" for f in check_package(complete["package"]))


def test_system_type_follows_the_benchmarks():
    from mlnb.submission.package import system_type_for

    assert system_type_for(["llama3.1-8b", "deepseek-r1"]) == "datacenter"
    assert system_type_for(["llama3.1-8b-edge"]) == "edge"
    assert system_type_for(["llama3.1-8b-edge", "llama3.1-8b"]) == "datacenter,edge"


def test_edge_results_go_to_the_edge_benchmark(complete, tmp_path):
    package = complete["package"]
    assert sorted(p.name for p in (package / SYSTEM).iterdir()) == ["deepseek-r1", "llama3.1-8b", "llama3.1-8b-edge"]
    assert sorted(p.name for p in (package / SYSTEM / "llama3.1-8b-edge").iterdir()) == ["Offline", "SingleStream"]
    assert sorted(p.name for p in (package / SYSTEM / "llama3.1-8b").iterdir()) == ["Offline", "Server"]
    for scenario, perf, acc in (("Offline", "20_edge_offline_perf", "21_edge_offline_accuracy"),
                                ("SingleStream", "05_singlestream_perf", "22_singlestream_accuracy")):
        folder = package / SYSTEM / "llama3.1-8b-edge" / scenario
        readme = (folder / "README.md").read_text()
        assert f"stage `{perf}`" in readme and f"stage `{acc}`" in readme
        assert "LoadGen model key `llama3_1-8b-edge`" in readme
        for name in ("mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json"):
            assert (folder / "accuracy" / name).is_file()
        assert not (folder / "TEST06").exists()  # the edge benchmark has no TEST06
    assert "stage `01_offline_perf`" in (package / SYSTEM / "llama3.1-8b" / "Offline" / "README.md").read_text()
    # A datacenter-only system has no edge benchmark folder: the build says so instead of packaging it.
    system_json = complete_system_json(tmp_path / "datacenter.json")
    refused = mlnb("submission", "build", *complete["runs"], "--out", tmp_path / "p", "--submitter", "acme",
                   "--system-name", "sys1", "--system-json", system_json, "--allow-non-submittable")
    assert refused.returncode == 2 and not (tmp_path / "p").exists()
    assert refused.stderr.count("\n") == 1 and "system_type 'datacenter' has no llama3.1-8b-edge" in refused.stderr
    # ... and the check flags an edge folder under a datacenter system_type.
    root = broken_copy(package, tmp_path)
    path = root / BASE / "systems" / "sys1.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), system_type="datacenter")))
    assert (f"{SYSTEM}/llama3.1-8b-edge", "system-type") in failures_of(root)


def test_deepseek_r1_scenarios_have_accuracy_and_test06(complete):
    folder = complete["package"] / SYSTEM / "deepseek-r1"
    assert sorted(p.name for p in folder.iterdir()) == ["Interactive", "Offline", "Server"]
    for scenario in ("Offline", "Server", "Interactive"):
        for rel in ("accuracy/mlperf_log_detail.txt", "accuracy/accuracy.txt", "accuracy/mlperf_log_accuracy.json",
                    "TEST06/verify_accuracy.txt", "TEST06/accuracy/mlperf_log_accuracy.json"):
            assert (folder / scenario / rel).is_file(), f"{scenario}/{rel}"
        assert re.search(r"'exact_match':\s[\d.]+", (folder / scenario / "accuracy" / "accuracy.txt").read_text())
    found = {(f.path, f.rule) for f in check_package(complete["package"]) if "/deepseek-r1/" in f.path}
    assert not {rule for _, rule in found} & {"required-file", "test06", "log-mode", "log-scenario"}, found


def test_only_short_runs_and_the_simulator_keep_it_from_submission(complete):
    failures = check_package(complete["package"])
    assert {f.rule for f in failures} <= SHORT_RUN_RULES | SIMULATED_RULES, format_failures(failures)
    assert {f.rule for f in failures} >= {"min-duration", "performance-sample-count", "accuracy-sample-count"}


def _submittable_copy(stage_dir: Path, runs: Path) -> Path:
    """A run holding one copy of a finished stage, marked as if it followed every rule."""
    run = runs / "pretend"
    shutil.copytree(stage_dir, run / stage_dir.name)
    summary_path = run / stage_dir.name / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(submittable=True, relaxed_rules=[])
    summary_path.write_text(json.dumps(summary))
    return run


def test_submittable_build_refuses_empty_fields_one_line_each(work, tmp_path):
    from mlnb.submission.sysinfo import MEANINGFUL_FIELDS

    run = _submittable_copy(work["r1"] / "01_offline_perf", tmp_path)
    system_json = complete_system_json(tmp_path / "system.json")
    data = json.loads(system_json.read_text())
    emptied = ["host_memory_configuration", "cooling", "accelerator_model_name"]
    data.update({name: "" for name in emptied}, status="", system_type="")  # these two get defaults
    system_json.write_text(json.dumps(data))
    result = mlnb("submission", "build", run, "--out", tmp_path / "p", "--submitter", "acme", "--system-name", "sys1",
                  "--system-json", system_json)
    assert result.returncode == 2 and not (tmp_path / "p").exists(), result.stdout + result.stderr
    lines = result.stderr.splitlines()
    named = [name for line in lines for name in MEANINGFUL_FIELDS if f": {name} is empty;" in line]
    assert sorted(named) == sorted(emptied) and len(lines) == len(emptied), result.stderr
    assert all(line.startswith(f"error: {system_json}: ") and "mlnb sysinfo --set" in line for line in lines)
    assert "Traceback" not in result.stderr

    # Without --system-json, the lines name what `mlnb sysinfo` cannot tell about this machine.
    from mlnb.submission.sysinfo import collect_system_description

    undetectable = sorted(name for name, value in collect_system_description().description.items()
                          if name in MEANINGFUL_FIELDS and not value
                          and name not in {"division", "submitter", "system_name", "status", "system_type"})
    result = mlnb("submission", "build", run, "--out", tmp_path / "p", "--submitter", "acme", "--system-name", "sys1")
    assert result.returncode == 2 and not (tmp_path / "p").exists()
    named = sorted(name for line in result.stderr.splitlines() for name in MEANINGFUL_FIELDS
                   if f": {name} is empty;" in line)
    assert undetectable and named == undetectable and len(result.stderr.splitlines()) == len(named), result.stderr

    # Filled in, the same build goes through and nothing in the description is a placeholder.
    data.update(host_memory_configuration="2x 16GB DDR4", cooling="air", accelerator_model_name="N/A")
    system_json.write_text(json.dumps(data))
    result = mlnb("submission", "build", run, "--out", tmp_path / "p", "--submitter", "acme", "--system-name", "sys1",
                  "--system-json", system_json)
    assert result.returncode == 0, result.stdout + result.stderr
    written = json.loads((tmp_path / "p" / BASE / "systems" / "sys1.json").read_text())
    assert written["system_type"] == "datacenter" and written["status"] == "rdi"
    assert "not given" not in json.dumps(written)
    assert not (tmp_path / "p" / "NOT_FOR_SUBMISSION.txt").exists()


# ------------------------------------------------------------------- the official checker
# MLCommons' own checker (tools/submission of mlcommons/inference) is not part of mlnb; point
# MLNB_MLPERF_INFERENCE_DIR at a checkout of that repository to run it on the complete package.

CHECKER_ENV = "MLNB_MLPERF_INFERENCE_DIR"
OFFICIAL_LINE = re.compile(r"^\[[^\]]* (?P<level>ERROR|WARNING)\] (?P<message>.*)$")
# The official checker's messages for what a short run breaks, with the mlnb check rule for each.
OFFICIAL_SHORT_RUN = {
    "performance-sample-count": re.compile(r"^(?P<path>\S+) performance_sample_count, found \d+, needs to be >= \d+$"),
    "offline-sample-count": re.compile(r"^(?P<path>\S+) Required minimum samples per query not met by user config"),
    "min-duration": re.compile(r"^(?P<path>\S+) Test duration less than 600s in user config"),
    "accuracy-sample-count": re.compile(r"^(?P<path>\S+) accurcy run does not cover all dataset"),
    "accuracy-target": re.compile(r"^(?P<path>\S+) accuracy not met: expected="),  # few samples, simulated answers
    "early-stopping": re.compile(r"^Early stopping condition was not met"),
}
# Lines that only repeat a failure above, or say a check was not applicable.
OFFICIAL_CONSEQUENCES = re.compile(
    r"^(Some (performance|accuracy|compliance) checks? Checks failed for: |NoResults |SUMMARY: submission has errors$"
    r"|Execution of check endpoints_model_check skipped for )"
)


def official_checker_dir() -> Path:
    value = os.environ[CHECKER_ENV]
    tools = Path(value) / "tools" / "submission"
    if not (tools / "submission_checker" / "main.py").is_file():
        pytest.fail(f"{CHECKER_ENV}={value}: no tools/submission/submission_checker/main.py there")
    return tools


@pytest.mark.skipif(  # decided before the fixtures run: without the checker, no package is built for it
    not os.environ.get(CHECKER_ENV),
    reason=f"{CHECKER_ENV} is not set: point it at a checkout of mlcommons/inference (its tools/submission knows "
    "v6.1) to run the official submission checker",
)
def test_official_checker_finds_only_short_run_reasons(complete, tmp_path):
    tools = official_checker_dir()
    package = complete["package"]
    result = subprocess.run(
        [sys.executable, "-m", "submission_checker.main", "--input", str(package), "--version", "v6.1",
         "--csv", str(tmp_path / "summary.csv")],
        cwd=tools, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1 and "SUMMARY: submission has errors" in output  # the runs are short
    official: set[tuple[str, str]] = set()
    for line in output.splitlines():
        match = OFFICIAL_LINE.match(line)
        if match is None:
            continue
        message = match["message"].replace(f"{package}/", "")
        if OFFICIAL_CONSEQUENCES.match(message):
            continue
        rule = next((rule for rule, pattern in OFFICIAL_SHORT_RUN.items() if pattern.match(message)), None)
        assert rule is not None, f"the official checker rejects the package for a reason other than a short run: {line}"
        path = OFFICIAL_SHORT_RUN[rule].match(message).groupdict().get("path")
        if path is not None:  # the official checker names the folder; mlnb names a file in it
            official.add((path.rsplit("/accuracy", 1)[0].rsplit("/performance", 1)[0], rule))
    # mlnb check agrees: each official finding is an mlnb finding in the same scenario folder, and
    # mlnb finds nothing of these kinds that the official checker passes.
    ours = {
        (re.sub(r"/(performance/run_1|accuracy)/[^/]+$", "", f.path), f.rule)
        for f in check_package(package)
        if f.rule in {rule for rule in OFFICIAL_SHORT_RUN if rule != "early-stopping"}
    }
    assert official == ours, (sorted(official ^ ours), output[-4000:])
    assert len(official) >= 10


def test_deepseek_r1_preset_gives_every_folder_its_three_runs():
    """Each DeepSeek-R1 scenario folder needs performance, accuracy and TEST06: the preset runs all nine."""
    from mlnb.config import load_preset
    from mlnb.paths import preset_path
    from mlnb.stages.registry import STAGES

    preset = load_preset(preset_path("deepseek-r1"))
    kinds = {(STAGES.get(name).defaults.get("scenario"), STAGES.get(name).defaults.get("mode"))
             for name in preset.stages if STAGES.get(name).kind == "loadgen"}
    assert kinds == {(s, m) for s in ("Offline", "Server", "Interactive") for m in ("performance", "accuracy", "test06")}
    assert ",".join(name for name in preset.stages if name != "99_run_summary") == DSR1_STAGES
