"""The page templates: they ship, compile, escape what they are given, and the report's modules stay one-way."""

from __future__ import annotations

import ast
import fnmatch
import sys
import tomllib
from pathlib import Path

import pytest
from markupsafe import Markup

from mlnb.report import markup

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "mlnb" / "report" / "templates"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.j2"))


def test_every_template_is_package_data_and_compiles():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mlnb"]
    assert _templates()
    for path in _templates():
        rel = path.relative_to(ROOT / "mlnb").as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} would be missing from the wheel"
        markup.environment().get_template(path.name)  # a syntax error raises here


def test_no_template_marks_a_value_safe():
    """Text from runs reaches the templates as data; only the code's own Markup may skip escaping."""
    for path in _templates():
        assert "|safe" not in path.read_text().replace(" ", ""), path.name


def test_plain_values_are_escaped_and_markup_is_kept():
    table = markup.macro("macros.html.j2", "table", ["h<1>"], [[HOSTILE], [Markup("<b>ok</b>")]])
    assert "<script>" not in table and "<img" not in table and "&lt;script&gt;" in table
    assert "<b>ok</b>" in table and "&lt;1&gt;" in table
    value = markup.value_html({"output": HOSTILE, "list": [HOSTILE, "x" * 40]})
    assert "<script>" not in value and value.count("&lt;script&gt;") == 2
    banner = str(markup.macro("macros.html.j2", "banner", "bad", HOSTILE, inner=Markup("<p>fine</p>")))
    assert "<script>" not in banner and "<p>fine</p>" in banner


def test_missing_values_render_empty_not_none():
    html = markup.macro("compare.html.j2", "runs_table", [("run", False, "baseline (A)", None, "m", "b", None)])
    assert "None" not in html


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


@pytest.mark.parametrize("package", ["report", "compare", "sweep"])
def test_views_do_not_import_stage_view_or_private_names(package):
    """The sub-views take their helpers from report/markup.py, not back from stage_view (the old circle)."""
    for path in sorted((ROOT / "mlnb" / package).glob("*.py")):
        if path.name == "stage_view.py":
            continue
        for module, names in _imports(path):
            if module.startswith("mlnb.report.stage_view") or (module == "mlnb.report" and "stage_view" in names):
                pytest.fail(f"{path.name} imports stage_view")
            private = [n for n in names if n.startswith("_") and module.startswith("mlnb.report")]
            assert not private, f"{path.name} imports {private} from {module}"


def test_no_hand_written_html_left_in_the_report_package():
    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    try:
        from html_fragments import fragments
    finally:
        sys.path.pop(0)
    left = {p.name: fragments(p) for p in sorted((ROOT / "mlnb" / "report").glob("*.py"))}
    assert not {name: lines for name, lines in left.items() if lines}
