"""Executed notebook -> self-contained HTML report (code hidden, nothing fetched from the network)."""

from __future__ import annotations

import re
from pathlib import Path

from mlnb.fileio import write_text_atomic

# The lab template can link MathJax/RequireJS and import Mermaid from a CDN; reports must open
# offline and hold no math, widgets or diagrams, so any script that reaches the network is dropped.
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*>(?:(?!</script>).)*?https?://(?:(?!</script>).)*?</script>|<script[^>]+src=\"https?://[^\"]*\"[^>]*>\s*</script>", re.IGNORECASE | re.DOTALL)
_REMOTE_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]*\"[^>]*>", re.IGNORECASE)


def export_notebook_html(notebook: Path, html_path: Path | None = None) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    from traitlets.config import Config

    # Cells tagged remove-cell (interactive-only helpers) never reach the report. The setting must be
    # in the config the exporter is built with: its preprocessors read the config when they are created.
    config = Config({"TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": {"remove-cell"}}})
    exporter = HTMLExporter(config=config, template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    exporter.register_preprocessor(_drop_stdout, enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    body = _REMOTE_LINK.sub("", _REMOTE_SCRIPT.sub("", body))
    return write_text_atomic(html_path or notebook.with_suffix(".html"), body)


def _drop_stdout(nb, resources):
    """The harness's progress lines (stdout) stay in the executed notebook and harness.log, not in
    the report, so the verdict opens the page; stderr (warnings) and errors stay."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stdout")]
    return nb, resources


def export_run_notebooks(run_dir: Path, echo=print) -> list[str]:
    """Re-export every stage notebook of a run; a cut-off or invalid one marks its stage failed.

    A notebook a full disk cut off mid-write is not JSON; the stage it belongs to did not finish
    cleanly, so it gets a failure.json saying so (unless it has one), and the other stages go on.
    Returns the stages whose notebook could not be read.
    """
    from mlnb.fileio import write_json_atomic

    broken = []
    for notebook in sorted(run_dir.glob("*/*.ipynb")):
        try:
            export_notebook_html(notebook)
        except Exception as err:  # nbformat's NotJSONError, a validation error, a read error
            stage = notebook.parent.name
            broken.append(stage)
            reason = f"the executed notebook {notebook.name} is cut off or invalid ({type(err).__name__}: {str(err)[:300]})"
            echo(f"{stage}: {reason}; shown as failed")
            failure = notebook.parent / "failure.json"
            if notebook.stem == stage and not failure.exists():
                write_json_atomic(failure, {"stage": stage, "cell_index": None, "ename": type(err).__name__, "evalue": reason})
    return broken
