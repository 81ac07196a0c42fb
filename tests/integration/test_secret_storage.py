"""Secrets never reach a run's files: not from the environment, not when typed on the command line."""

import os
import subprocess
import sys

# Secrets of several shapes, and one with no recognisable shape under a credential-like name.
ENV_SECRETS = {
    "OPENAI_API_KEY": "sk-" + "Env4" * 6,
    "HF_TOKEN": "hf_" + "Tk5" * 8,
    "MY_SERVICE_TOKEN": "plain-value-" + "8" * 9,
}
TYPED_SECRET = "sk-" + "Typed7" * 4


def _mlnb(*args, cwd):
    env = dict(os.environ, **ENV_SECRETS)
    env.pop("MLNB_OUTPUTS", None)
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def test_no_secret_in_any_file_of_a_run(tmp_path):
    # Typed on the command line: refused before anything is written, and not echoed.
    for attempt in (f"api_key={TYPED_SECRET}", f"served_model_name={TYPED_SECRET}"):
        refused = _mlnb("run", "--outputs", "out", "--run-id", "refused", "--set", attempt, cwd=tmp_path)
        assert refused.returncode == 2 and TYPED_SECRET not in refused.stderr + refused.stdout, refused.stderr
        assert not (tmp_path / "out" / "refused").exists()
    # A tiny simulated stage with the secrets in its environment.
    result = _mlnb(
        "run", "--outputs", "out", "--run-id", "scan", "--stages", "01_offline_perf", "--backend", "sim",
        "--samples", "2", "--set", "min_query_count=2", "--set", "sim_tpot_ms=1", "--no-progress", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "out" / "scan"
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    assert len(files) > 10 and (run_dir / "01_offline_perf" / "01_offline_perf.ipynb").is_file()
    needles = [value.encode() for value in (*ENV_SECRETS.values(), TYPED_SECRET)]
    hits = [(str(path.relative_to(run_dir)), needle.decode()) for path in files for needle in needles
            if needle in path.read_bytes()]
    print(f"secret scan: {len(files)} files, {len(hits)} hits")
    assert hits == []
    for value in (*ENV_SECRETS.values(), TYPED_SECRET):
        assert value not in result.stdout + result.stderr
