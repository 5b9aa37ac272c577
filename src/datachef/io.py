"""Reading spec files and writing outputs atomically.

Spec files are YAML or JSON; errors name the file and the field path. Writers go through a temporary file in the
same folder and `os.replace`, so a reader never sees a half-written file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ValidationError

from .errors import SpecError
from .spec import Recipe, TaskSpec

M = TypeVar("M", bound=BaseModel)


def read_structured(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is valid YAML, but JSON errors read better from the json module)."""
    p = Path(path)
    if not p.exists():
        raise SpecError("file not found", file=str(p))
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"invalid JSON: {e.msg}", file=str(p), line=e.lineno) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SpecError(f"invalid YAML: {getattr(e, 'problem', e)}", file=str(p),
                        line=mark.line + 1 if mark else None) from None


def parse_model(model: type[M], data: Any, *, file: str | None = None) -> M:
    """Validate `data` against `model`, turning pydantic's error list into one readable SpecError."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            problems.append(f"{loc}: {err['msg']}")
        raise SpecError(f"does not match the {model.__name__} schema:\n  - " + "\n  - ".join(problems),
                        file=file) from None


def load_task(path: str | Path) -> TaskSpec:
    p = Path(path)
    task = parse_model(TaskSpec, read_structured(p), file=str(p))
    # Relative source paths resolve against the task file's folder.
    task._base_dir = p.resolve().parent
    return task


def task_base_dir(task: TaskSpec) -> Path:
    return task._base_dir or Path.cwd()


def load_recipe(path: str | Path) -> Recipe:
    p = Path(path)
    return parse_model(Recipe, read_structured(p), file=str(p))


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of `path`; on clean exit it replaces `path`, on error it is removed."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            # mkstemp makes the file 0600; give the result the mode a plain open() would (0666 less the umask), so
            # outputs stay readable by the user's other tools and accounts as usual.
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")


def dump_model_yaml(model: BaseModel) -> str:
    return yaml.safe_dump(model.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True,
                          width=120)


def cache_root() -> Path:
    """Where datachef keeps what it can rebuild (step cache, LLM request cache, converted models, data archives):
    `$DATACHEF_CACHE`, else `~/.cache/datachef`."""
    env = os.environ.get("DATACHEF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "datachef"


def iter_jsonl(path: str | Path) -> Iterator[Any]:
    """The values of a JSON-lines file, one per non-blank line (orjson; a bad line raises orjson.JSONDecodeError)."""
    with open(path, "rb") as f:
        for line in f:
            if not line.isspace():
                yield orjson.loads(line)


@contextlib.contextmanager
def publish_dir(out_dir: str | Path, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Build a folder's outputs in a staging folder inside it; on clean exit move each staged entry into `out_dir`
    (a folder replaces the old one whole), the names in `last` after all others, so a reader that trusts them (a
    manifest) never describes files that are not there yet. On error nothing in `out_dir` changes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        yield staging
        entries = sorted(staging.iterdir(), key=lambda p: (p.name in last, last.index(p.name) if p.name in last
                                                           else 0, p.name))
        for entry in entries:
            dest = out / entry.name
            if entry.is_dir() and dest.is_dir():
                shutil.rmtree(dest)
            os.replace(entry, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
