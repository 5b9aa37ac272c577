"""Check a whole recipe before anything runs: ops exist, args type-check, inputs are defined and acyclic, sources
exist, every field a step reads exists in its input's schema, and the output is chat data.

Every problem is collected (not just the first) and names the step, op and field, so a human or the chef's repair
loop can fix them all in one go.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from ..errors import DatachefError, RecipeValidationError, SourceError
from ..ops import FieldTypes, Op, OpContext, get_op
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


def _arg_problems(e: ValidationError, step_id: str, op_name: str) -> list[DatachefError]:
    out = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        out.append(DatachefError(f"bad argument: {err['msg']}", step=step_id, op=op_name, field=loc or None))
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


def bind_op(op_name: str, args: dict, ctx: OpContext, step_id: str, input_schemas: list[FieldTypes], *,
            input_field: str = "input", check_reads: bool = True) -> tuple[Op | None, list[DatachefError]]:
    """Check one step against the registry and its inputs' schemas and build its op: the op exists, takes that many
    inputs, has the capabilities it needs, its args type-check, a `load` names a task source, every field it reads is
    in all its inputs, and its own `check()` passes. Returns (the bound op, or None when it cannot be built; every
    problem found, each naming the step, op and field). Used for whole recipes and for single kit calls alike
    (`check_reads=False` where a schema is unknown, e.g. inferred from an empty list of rows)."""
    problems: list[DatachefError] = []
    try:
        op_cls = get_op(op_name, step=step_id)
    except DatachefError as e:
        return None, [DatachefError(e.message, step=step_id, op=op_name, field="op")]
    n_up = len(input_schemas)
    if not {"none": n_up == 0, "one": n_up == 1, "many": n_up >= 1}[op_cls.inputs]:
        want = {"none": "no input", "one": "exactly one input", "many": "one or more inputs"}[op_cls.inputs]
        return None, [DatachefError(f"takes {want}, got {n_up}", step=step_id, op=op_name, field=input_field)]
    if op_cls.requires and op_cls.requires not in ctx.capabilities:
        return None, [DatachefError(
            f"needs an {op_cls.requires.upper()} client, and none is configured for this run "
            f"(configure one, or rewrite the step with non-{op_cls.requires} ops)", step=step_id, op=op_name)]
    try:
        op = op_cls(op_cls.Params.model_validate(args), ctx, step_id)
    except ValidationError as e:
        return None, _arg_problems(e, step_id, op_name)
    except DatachefError as e:
        return None, [DatachefError(e.message, step=step_id, op=op_name, field=e.field or "args")]
    if op_name == "load":
        source_id = op.params.source  # type: ignore[attr-defined]
        known = [src.id for src in ctx.task.sources] if ctx.task else []
        if source_id not in known:
            return None, [DatachefError(f"unknown source '{source_id}' (task sources: {', '.join(known)})",
                                        step=step_id, op=op_name, field="source")]
    op.bind(input_schemas)
    if input_schemas and check_reads:
        available = set.intersection(*(set(schema) for schema in input_schemas))
        for f in sorted(op.reads() - available):
            problems.append(DatachefError(
                f"reads a field its input does not have (available: {', '.join(sorted(available)) or 'none'})",
                step=step_id, op=op_name, field=f))
    problems.extend(DatachefError(msg, step=step_id, op=op_name) for msg in op.check())
    return op, problems


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
        op, step_problems = bind_op(s.op, s.args, ctx, sid, [bound[up].fields for up in s.upstream],
                                    input_field="inputs" if s.inputs is not None else "input")
        problems.extend(step_problems)
        if op is None:
            broken.add(sid)
            continue
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
