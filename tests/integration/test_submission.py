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
