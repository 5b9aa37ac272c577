"""Check a whole recipe before anything runs: ops exist, args type-check, inputs are defined and acyclic, sources
exist, every field a step reads exists in its input's schema, and the output is chat data.

Every problem is collected (not just the first) and names the step, op and field, so a human or the chef's repair
loop can fix them all in one go.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from ..errors import DatachefError, RecipeValidationError, SourceError
from ..ops import Op, OpContext, get_op
from ..ops.base import FieldTypes
from ..spec import Recipe, Step


@dataclass
class BoundStep:
    step: Step
    op: Op
    upstream: list[str]
    fields: FieldTypes = field(default_factory=dict)  # output schema


@dataclass
class CompiledRecipe:
    recipe: Recipe
    steps: dict[str, BoundStep]  # in execution (topological) order, only steps the output needs
    output: str
    warnings: list[str] = field(default_factory=list)


def _arg_problems(e: ValidationError, step: Step) -> list[DatachefError]:
    out = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        out.append(DatachefError(f"bad argument: {err['msg']}", step=step.id, op=step.op, field=loc or None))
    return out


def _toposort(steps: dict[str, Step], problems: list[DatachefError]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(sid: str, path: list[str]) -> None:
        if state.get(sid) == 2:
            return
        if state.get(sid) == 1:
            cycle = path[path.index(sid):] + [sid]
            problems.append(DatachefError(f"inputs form a cycle: {' -> '.join(cycle)}", step=sid, op=steps[sid].op))
            return
        state[sid] = 1
        for up in steps[sid].upstream:
            if up in steps:
                visit(up, path + [sid])
        state[sid] = 2
        order.append(sid)

    for sid in steps:
        visit(sid, [])
    return order


def compile_recipe(recipe: Recipe, ctx: OpContext, *, file: str | None = None) -> CompiledRecipe:
    """Validate `recipe` against the op registry, the task's sources and the field schemas; bind every op."""
    if recipe.steps is None:
        raise RecipeValidationError([DatachefError(
            "this recipe is a Python program; Python recipes run through the sandbox (`datachef.kit`), which this "
            "engine entry point does not take")], file=file)
    problems: list[DatachefError] = []
    steps: dict[str, Step] = {}
    for s in recipe.steps:
        if s.id in steps:
            problems.append(DatachefError("duplicate step id", step=s.id, op=s.op))
        steps[s.id] = s
    output = recipe.output or recipe.steps[-1].id
    if output not in steps:
        problems.append(DatachefError(f"output step '{output}' is not defined", field="output"))
        raise RecipeValidationError(problems, file=file)

    # Inputs must name defined steps and form a DAG.
    for s in steps.values():
        for up in s.upstream:
            if up not in steps:
                problems.append(DatachefError(
                    f"input '{up}' is not a defined step (defined: {', '.join(steps)})", step=s.id, op=s.op,
                    field="inputs" if s.inputs is not None else "input"))
    order = _toposort(steps, problems)
    if problems:
        raise RecipeValidationError(problems, file=file)

    # Only what the output needs runs.
    needed: set[str] = set()
    stack = [output]
    while stack:
        sid = stack.pop()
        if sid not in needed:
            needed.add(sid)
            stack.extend(steps[sid].upstream)
    warnings = [f"step '{sid}' does not feed the output and will not run" for sid in order if sid not in needed]

    bound: dict[str, BoundStep] = {}
    broken: set[str] = set()  # steps whose schema is unknown; skip field checks downstream of them
    for sid in [s for s in order if s in needed]:
        s = steps[sid]
        if any(up in broken for up in s.upstream):
            broken.add(sid)
            continue
        try:
            op_cls = get_op(s.op, step=sid)
        except DatachefError as e:
            problems.append(DatachefError(e.message, step=sid, op=s.op, field="op"))
            broken.add(sid)
            continue
        n_up = len(s.upstream)
        arity = {"none": n_up == 0, "one": n_up == 1, "many": n_up >= 1}[op_cls.inputs]
        if not arity:
            want = {"none": "no input", "one": "exactly one 'input'", "many": "a list of 'inputs'"}[op_cls.inputs]
            problems.append(DatachefError(f"takes {want}, got {n_up}", step=sid, op=s.op, field="input"))
            broken.add(sid)
            continue
        if op_cls.requires and op_cls.requires not in ctx.capabilities:
            problems.append(DatachefError(
                f"needs an {op_cls.requires.upper()} client, and none is configured for this run "
                f"(configure one, or rewrite the step with non-{op_cls.requires} ops)", step=sid, op=s.op))
            broken.add(sid)
            continue
        try:
            params = op_cls.Params.model_validate(s.args)
            op = op_cls(params, ctx, sid)
        except ValidationError as e:
            problems.extend(_arg_problems(e, s))
            broken.add(sid)
            continue
        except DatachefError as e:
            problems.append(DatachefError(e.message, step=sid, op=s.op, field="args"))
            broken.add(sid)
            continue
        if s.op == "load":
            source_id = params.source  # type: ignore[attr-defined]
            known = [src.id for src in ctx.task.sources] if ctx.task else []
            if source_id not in known:
                problems.append(DatachefError(f"unknown source '{source_id}' (task sources: {', '.join(known)})",
                                              step=sid, op=s.op, field="source"))
                broken.add(sid)
                continue
        input_schemas = [bound[up].fields for up in s.upstream]
        op.bind(input_schemas)
        available = set(input_schemas[0]) if input_schemas else set()
        for schema in input_schemas[1:]:
            available &= set(schema)
        for f in sorted(op.reads() - available) if op_cls.inputs != "none" else []:
            problems.append(DatachefError(
                f"reads a field its input does not have (available: {', '.join(sorted(available)) or 'none'})",
                step=sid, op=s.op, field=f))
        problems.extend(DatachefError(msg, step=sid, op=s.op) for msg in op.check())
        try:
            fields = op.output_fields()
        except SourceError as e:
            problems.append(DatachefError(e.message, step=sid, op=s.op, field="source", file=e.file))
            broken.add(sid)
            continue
        bound[sid] = BoundStep(step=s, op=op, upstream=list(s.upstream), fields=fields)

    if output in bound and bound[output].fields.get("messages") not in ("messages", "any"):
        problems.append(DatachefError(
            "the output step must produce chat `messages`; end the program with a `to_chat` step",
            step=output, op=steps[output].op, field="messages"))
    if problems:
        raise RecipeValidationError(problems, file=file)
    return CompiledRecipe(recipe=recipe, steps=bound, output=output, warnings=warnings)
