"""A stage notebook run by hand with a wrong parameter stops at its check cell with one line."""

import json
import subprocess
import sys

from mlnb.paths import NOTEBOOKS_DIR


def test_papermill_wrong_type_gives_one_line_naming_the_parameter(tmp_path):
    out = tmp_path / "out.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS_DIR / "01_offline_perf.ipynb"), str(out),
         "-p", "max_new_tokens", "abc", "-p", "run_dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode != 0
    text = result.stdout + result.stderr
    expected = "ParameterError: notebook parameters field 'max_new_tokens': Input should be a valid integer"
    assert expected in text and "(got 'abc')" in text
    # The kernel's part is that one line: no frames from mlnb (papermill's own CLI frames remain).
    assert "mlnb/config.py" not in text and "mlnb/notebook.py" not in text and "Cell In[" not in text
    cells = json.loads(out.read_text())["cells"]
    errors = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1, errors
    assert errors[0]["ename"] == "ParameterError"
    assert not (tmp_path / "run").exists()  # the stage did not start
