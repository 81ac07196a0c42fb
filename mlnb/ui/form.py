"""The launcher's parameter form, generated from :class:`mlnb.config.StageParams`.

Nothing here keeps its own list of parameters. Each field's widget follows its type (a
``Literal`` becomes a dropdown, a ``bool`` a checkbox, numbers and strings a text box whose empty
value means "keep the preset's or the model's default"), and the fields are grouped by who reads
them, found by reading mlnb's own source:

- **run**: the parameters ``mlnb run`` has shortcut options for (``--backend``, ``--samples``, ...);
- **scenario**: the parameters :mod:`mlnb.harness.settings` turns into LoadGen settings;
- **engine**: the parameters the chosen backend's class reads and no backend-independent code
  does, so only the chosen backend's settings show;
- **other**: the rest, except what the pipeline sets for each stage (run folder, stage name,
  scenario and mode).

A form becomes ``mlnb run`` arguments (:meth:`ParamForm.cli_args`), and it is checked by the code
the CLI runs before it creates a run folder (:func:`mlnb.cli.build_plan`), so a bad value is
refused with the CLI's own one-line message.
"""

from __future__ import annotations

import ast
import functools
import html
import importlib.util
import inspect
import math
import re
import textwrap
import typing
from dataclasses import dataclass
from typing import Any, Optional

from mlnb.config import StageParams

__all__ = [
    "FieldKind",
    "ParamForm",
    "backend_fields",
    "field_groups",
    "field_kind",
    "fields_read_in",
    "validate_cli_args",
]

# Set by the pipeline for every stage, never by a user.
PIPELINE_SET = ("run_dir", "stage")
# Modules that read parameters whatever the backend: a field they read is not backend-specific.
GENERAL_READERS = ("mlnb.harness.run", "mlnb.harness.sut", "mlnb.stages.loadgen_stage", "mlnb.pipeline")
SETTINGS_READER = "mlnb.harness.settings"
_PARAM_OWNERS = {"p", "params"}  # the names mlnb's code gives a StageParams


# ---------------------------------------------------------------------------------------------
# Reading the typed model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldKind:
    name: str
    kind: str  # "choice" | "bool" | "int" | "float" | "str"
    optional: bool
    default: Any
    description: str
    choices: tuple = ()


def field_kind(name: str) -> FieldKind:
    """How a StageParams field is edited, from its type annotation."""
    info = StageParams.model_fields[name]
    annotation = info.annotation
    optional = False
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
    origin = typing.get_origin(annotation)
    description = info.description or ""
    if origin is typing.Literal:
        return FieldKind(name, "choice", optional, info.default, description, tuple(typing.get_args(annotation)))
    kind = {bool: "bool", int: "int", float: "float"}.get(annotation, "str")
    return FieldKind(name, kind, optional, info.default, description)


def _attributes_read(tree: ast.AST) -> set[str]:
    """StageParams fields read as ``p.X``, ``params.X`` or ``self.params.X`` in a syntax tree."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr not in StageParams.model_fields:
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id in _PARAM_OWNERS) or (
            isinstance(owner, ast.Attribute) and owner.attr == "params"
        ):
            found.add(node.attr)
    return found


@functools.lru_cache(maxsize=None)
def fields_read_in(module: str) -> frozenset[str]:
    """Fields a module's source reads (the module is parsed, not imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return frozenset()
    with open(spec.origin, encoding="utf-8") as handle:
        return frozenset(_attributes_read(ast.parse(handle.read())))


@functools.lru_cache(maxsize=None)
def _fields_read_by_class(backend: str) -> frozenset[str]:
    from mlnb.backends.registry import get_backend

    cls = get_backend(backend)
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return frozenset()
    return frozenset(_attributes_read(ast.parse(source)))


def backend_names() -> list[str]:
    from mlnb.backends.registry import BACKENDS, get_backend

    get_backend("sim")  # importing the built-in backends registers them
    return BACKENDS.names()


def _ordered(names) -> list[str]:
    wanted = set(names)
    return [n for n in StageParams.model_fields if n in wanted]


def run_fields() -> list[str]:
    """The parameters `mlnb run` has shortcut options for (backend, model, dataset, samples)."""
    from mlnb.cli import run

    return _ordered(p.name for p in run.params if p.name in StageParams.model_fields)


def stage_fixed_fields() -> list[str]:
    """Set by the pipeline or by the stage itself (its scenario and mode): not in the form."""
    from mlnb.stages.registry import STAGES

    fixed = set(PIPELINE_SET)
    for name in STAGES.names():
        fixed.update(STAGES.get(name).defaults)
    # The edge stages default model_key to llama3_1-8b-edge; it stays a field anyone may set.
    fixed.discard("model_key")
    return _ordered(fixed)


def scenario_fields() -> list[str]:
    """LoadGen settings: what mlnb.harness.settings reads."""
    skip = set(stage_fixed_fields()) | set(run_fields())
    return [n for n in _ordered(fields_read_in(SETTINGS_READER)) if n not in skip]


def backend_fields(backend: str) -> list[str]:
    """The engine settings of one backend: read by its class and by no backend-independent code."""
    general = set().union(*(fields_read_in(m) for m in GENERAL_READERS), fields_read_in(SETTINGS_READER))
    skip = general | set(stage_fixed_fields()) | set(run_fields())
    return [n for n in _ordered(_fields_read_by_class(backend)) if n not in skip]


def field_groups(backend: str) -> dict[str, list[str]]:
    """``{"run": [...], "scenario": [...], "engine": [...], "other": [...]}`` for a backend."""
    run = run_fields()
    scenario = scenario_fields()
    engine = backend_fields(backend)
    any_backend = set().union(*(backend_fields(b) for b in backend_names()))
    taken = set(run) | set(scenario) | any_backend | set(stage_fixed_fields())
    other = [n for n in StageParams.model_fields if n not in taken]
    return {"run": run, "scenario": scenario, "engine": engine, "other": other}


def form_fields() -> list[str]:
    """Every field any form shows (for any backend)."""
    shown: set[str] = set()
    for backend in backend_names():
        for names in field_groups(backend).values():
            shown.update(names)
    return _ordered(shown)


# ---------------------------------------------------------------------------------------------
# Checking: the CLI's own path
# ---------------------------------------------------------------------------------------------


def validate_cli_args(preset: str, stages: Optional[str], sets: list[str]) -> Optional[str]:
    """None when `mlnb run --preset P --stages S --set ...` would start; else the CLI's error line."""
    from mlnb.cli import error_line

    err = _plan_error(preset, stages, sets)
    return error_line(err) if err is not None else None


def _plan_error(preset: str, stages: Optional[str], sets: list[str]):
    from mlnb.cli import build_plan
    from mlnb.errors import InputError

    try:
        build_plan(preset, stages, sets)
    except InputError as err:
        return err
    return None


@dataclass(frozen=True)
class FormProblem:
    """Why the form cannot run: the CLI's error line, the field it concerns (None: the form as a whole),
    and whether it only says that an empty field needs a value (shown as a note, not as an error)."""

    text: str
    field: Optional[str] = None
    needed: bool = False
    detail: str = ""  # the problem without where it is (the note sits beside the field)


def field_of_error(where: str, names) -> Optional[str]:
    """The form field an error's ``where`` names (the last one named: paths come first), or None."""
    if where.startswith("--stages") or where.startswith("stage switches"):
        return "stages"
    if where.startswith("--preset"):
        return "preset"
    if where.startswith("apply to"):
        return "scope"
    found = None, -1
    for name in names:
        for match in re.finditer(rf"(?<![\w]){re.escape(name)}(?![\w])", where):
            if match.start() > found[1]:
                found = name, match.start()
    return found[0]


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{value:g}"
    return str(value)


def default_hint(preset, name: str, stage: Optional[str] = None) -> str:
    """What an empty field means for ``preset`` (and one stage): the preset's value or the model default."""
    if preset is not None:
        if stage and name in preset.per_stage.get(stage, {}):
            return f"preset: {_text(preset.per_stage[stage][name])}"
        if name in preset.common:
            per = [s for s, values in preset.per_stage.items() if name in values]
            return f"preset: {_text(preset.common[name])}" + (" (some stages differ)" if per and not stage else "")
        per = {s: values[name] for s, values in preset.per_stage.items() if name in values}
        if per and not stage:
            return "preset, per stage: " + ", ".join(f"{s}={_text(v)}" for s, v in per.items())
    default = StageParams.model_fields[name].default
    if default is None and name in scenario_fields() and field_kind(name).kind in ("int", "float"):
        return "mlperf.conf"  # an unset LoadGen setting keeps mlperf.conf's value
    return f"default: {_text(default)}"


# ---------------------------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------------------------

_DESCRIPTION_STYLE = {"description_width": "190px"}
_FIELD_LAYOUT = {"width": "520px"}
ALL_STAGES = "all stages"


class ParamForm:
    """Preset, stages and every parameter as widgets; :attr:`widget` is the form to display.

    ``on_change`` is called (with no argument) after any value changes.
    """

    def __init__(self, preset: str = "smoke", on_change=None):
        import ipywidgets as w

        from mlnb.paths import available_presets
        from mlnb.stages.registry import STAGES

        self._w = w
        self.on_change = on_change
        self._preset_obj = None
        self.preset = w.Dropdown(
            options=available_presets(), value=preset, description="preset", style=_DESCRIPTION_STYLE,
            layout=_FIELD_LAYOUT,
        )
        self.preset.add_class("mlnb-field-preset")
        self.preset_note = w.HTML()
        self.stage_boxes = {}
        for name in STAGES.names():
            box = w.Checkbox(value=False, description=name, indent=False, layout={"width": "230px"})
            box.add_class(f"mlnb-stage-{name}")
            box.observe(self._changed, names="value")
            self.stage_boxes[name] = box
        loadgen = [n for n in STAGES.names() if STAGES.get(n).kind in ("loadgen", "lmeval")]
        self.scope = w.Dropdown(
            options=[ALL_STAGES, *loadgen], value=ALL_STAGES, description="apply to", style=_DESCRIPTION_STYLE,
            layout=_FIELD_LAYOUT, tooltip="The scenario settings below apply to every stage, or to one stage only",
        )
        self.scope.add_class("mlnb-field-scope")
        self.scope.observe(self._scope_changed, names="value")
        self.fields: dict[str, Any] = {name: self._make_field(name) for name in form_fields()}
        # A note beside each field, the preset, the stages and the scope: where a problem is shown.
        self.notes: dict[str, Any] = {name: self._make_note(name) for name in [*self.fields, "preset", "stages", "scope"]}
        self.rows: dict[str, Any] = {name: w.HBox([widget, self.notes[name]]) for name, widget in self.fields.items()}
        self.run_box = w.VBox()
        self.scenario_box = w.VBox()
        self.engine_title = w.HTML()
        self.engine_box = w.VBox()
        self.other_box = w.VBox()
        self.other = w.Accordion(children=[self.other_box])
        self.other.set_title(0, "Other settings")
        self.other.selected_index = None
        stage_grid = w.GridBox(
            list(self.stage_boxes.values()), layout={"grid_template_columns": "repeat(3, 240px)", "margin": "0 0 0 195px"}
        )
        self.widget = w.VBox(
            [
                w.HBox([self.preset, self.preset_note, self.notes["preset"]]),
                w.HTML("<b>Stages</b>"),
                stage_grid,
                self.notes["stages"],
                w.HTML("<b>Run</b>"),
                self.run_box,
                w.HTML("<b>Scenario (LoadGen settings)</b>"),
                w.HBox([self.scope, self.notes["scope"]]),
                self.scenario_box,
                self.engine_title,
                self.engine_box,
                self.other,
            ]
        )
        self.widget.add_class("mlnb-form")
        self.preset.observe(self._preset_changed, names="value")
        self._quiet = False
        self._apply_preset()
        self._layout()

    # building ----------------------------------------------------------------------------------
    def _make_field(self, name: str):
        w = self._w
        kind = field_kind(name)
        common = dict(description=name, style=_DESCRIPTION_STYLE, layout=_FIELD_LAYOUT, tooltip=kind.description or name)
        if name == "backend":
            widget = w.Dropdown(options=backend_names(), value=kind.default, **common)
        elif kind.kind == "choice":
            widget = w.Dropdown(options=[("(default)", None), *[(str(c), c) for c in kind.choices]], value=None, **common)
        elif kind.kind == "bool":
            widget = w.Dropdown(options=[("(default)", None), ("true", True), ("false", False)], value=None, **common)
        else:
            widget = w.Text(value="", continuous_update=False, **common)
        widget.add_class(f"mlnb-field-{name}")
        widget.observe(self._field_changed if name == "backend" else self._changed, names="value")
        return widget

    def _make_note(self, name: str):
        note = self._w.HTML("", layout={"margin": "0 0 0 8px", "flex": "1 1 auto"})
        note.add_class("mlnb-field-note")
        note.add_class(f"mlnb-note-{name}")
        return note

    def _layout(self) -> None:
        groups = field_groups(self.backend)
        self.run_box.children = [self.rows[n] for n in groups["run"]]
        self.scenario_box.children = [self.rows[n] for n in groups["scenario"]]
        self.engine_title.value = f"<b>Engine settings ({self.backend} backend)</b>" if groups["engine"] else ""
        self.engine_box.children = [self.rows[n] for n in groups["engine"]]
        self.other_box.children = [self.rows[n] for n in groups["other"]]
        self._hints()

    def _hints(self) -> None:
        stage = None if self.scope.value == ALL_STAGES else self.scope.value
        scenario = set(scenario_fields())
        for name, widget in self.fields.items():
            if isinstance(widget, self._w.Text):
                hint = default_hint(self._preset_obj, name, stage if name in scenario else None)
                widget.placeholder = f"empty = {hint}"
                description = field_kind(name).description
                widget.tooltip = f"{description} (empty = {hint})" if description else f"empty = {hint}"

    def _apply_preset(self) -> None:
        from mlnb.config import load_preset
        from mlnb.errors import InputError
        from mlnb.paths import preset_path

        try:
            self._preset_obj = load_preset(preset_path(self.preset.value))
        except InputError:
            self._preset_obj = None
        self._quiet = True
        try:
            chosen = set(self._preset_obj.stages) if self._preset_obj else set()
            for name, box in self.stage_boxes.items():
                box.value = name in chosen
            backend = (self._preset_obj.common.get("backend") if self._preset_obj else None) or self.fields["backend"].value
            if backend in self.fields["backend"].options:
                self.fields["backend"].value = backend
        finally:
            self._quiet = False
        description = self._preset_obj.description if self._preset_obj else ""
        self.preset_note.value = f'<span style="color:#6b7280">{description}</span>'

    # events ------------------------------------------------------------------------------------
    def _notify(self) -> None:
        if not self._quiet and self.on_change is not None:
            self.on_change()

    def _changed(self, _change=None) -> None:
        self._notify()

    def _field_changed(self, _change=None) -> None:  # the backend: its engine settings differ
        self._layout()
        self._notify()

    def _scope_changed(self, _change=None) -> None:
        self._hints()
        self._notify()

    def _preset_changed(self, _change=None) -> None:
        self._apply_preset()
        self._layout()
        self._notify()

    # values ------------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.fields["backend"].value

    def stages(self) -> list[str]:
        return [name for name, box in self.stage_boxes.items() if box.value]

    def visible_fields(self) -> list[str]:
        groups = field_groups(self.backend)
        return [n for names in groups.values() for n in names]

    def sets(self) -> list[str]:
        """``--set`` values for every field that is not left at its default."""
        scenario = set(scenario_fields())
        prefix = "" if self.scope.value == ALL_STAGES else f"{self.scope.value}."
        out = []
        for name in self.visible_fields():
            widget = self.fields[name]
            value = widget.value
            if isinstance(widget, self._w.Text):
                text = value.strip()
                if not text:
                    continue
            elif value is None:
                continue
            else:
                text = {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)
            out.append(f"{prefix if name in scenario else ''}{name}={text}")
        return out

    def cli_args(self) -> list[str]:
        """Arguments for `mlnb run` (without the outputs folder)."""
        args = ["--preset", self.preset.value]
        stages = self.stages()
        if stages:
            args += ["--stages", ",".join(stages)]
        for item in self.sets():
            args += ["--set", item]
        return args

    def check(self) -> Optional[str]:
        """None if the CLI would accept the form; else the CLI's one-line error."""
        problem = self.check_problem()
        return problem.text if problem is not None else None

    def check_problem(self) -> Optional[FormProblem]:
        """None if the CLI would accept the form; else what is wrong and which field it concerns."""
        from mlnb.cli import error_line

        if not self.stages():
            return FormProblem("error: --stages: choose at least one stage", "stages")
        if self.scope.value != ALL_STAGES and self.scope.value not in self.stages():
            return FormProblem(f"error: apply to: stage {self.scope.value} is not among the chosen stages", "scope")
        err = _plan_error(self.preset.value, ",".join(self.stages()), self.sets())
        if err is None:
            return None
        field = field_of_error(err.where, self.visible_fields())
        if field is None:  # an error that quotes a typed value (a dataset path) concerns that field
            typed = {n: w.value.strip() for n, w in self.fields.items() if isinstance(w, self._w.Text) and w.value.strip()}
            field = next((n for n, value in typed.items() if value in err.where), None)
        widget = self.fields.get(field) if field else None
        # An empty field the chosen backend or preset needs (openai's base_url) is not a mistake of the
        # user's: nothing was typed. It says what is needed, without the look of an error.
        needed = isinstance(widget, self._w.Text) and not widget.value.strip()
        return FormProblem(error_line(err), field if field in self.notes else None, needed, err.problem)

    def show_problem(self, problem: Optional[FormProblem]) -> None:
        """The problem beside its field (the others cleared); one without a field is the caller's to show."""
        show_field_notes(self.notes, problem)

    def set_values(self, **values: Any) -> None:
        """Fill fields by name (strings for text fields), as a user would; for scripts and tests."""
        for name, value in values.items():
            widget = self.fields[name]
            widget.value = ("" if value is None else str(value)) if isinstance(widget, self._w.Text) else value


def show_field_notes(notes: dict, problem: Optional[FormProblem]) -> None:
    """Each field's note: the problem beside its own field (amber "needed" for an empty one, red for an
    error, with the class the browser tests find), the others cleared."""
    for name, note in notes.items():
        mine = problem is not None and problem.field == name
        if mine and problem.needed:
            text = problem.detail or problem.text.removeprefix("error: ")
            note.value = f'<span style="color:#92400e;font-size:0.9em">needed: {html.escape(text)}</span>'
        elif mine:
            note.value = (f'<div style="color:#b91c1c;font-family:monospace;white-space:pre-wrap;font-size:0.9em">'
                          f'{html.escape(problem.text)}</div>')
        else:
            note.value = ""
        (note.add_class if mine and not problem.needed else note.remove_class)("mlnb-error")
