"""From a SourceSpec's `uri` + `format` to an opened `Source`.

uri forms: a local path (relative to `base_dir`), `pkg:MODULE/path/inside/package`, `hf:OWNER/NAME` (or
`hf:./local/folder`), `disk:/path/saved/with/save_to_disk`.
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

from ..errors import SourceError
from ..spec import SourceSpec
from .base import Source
from .files import FILE_FORMATS, SUFFIX_FORMATS, FileSource, infer_format
from .hf import DiskSource, HFSource, resolve_hf_name

_SAVED_DATASET_MARKERS = ("dataset_dict.json", "state.json")


def open_source(spec: SourceSpec, base_dir: Path | None = None) -> Source:
    """Resolve `spec.uri` and return the matching Source. Nothing is read yet, but local paths must exist."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    uri = spec.uri.strip()
    fmt = spec.format

    if uri.startswith("hf:"):
        _check_format(spec, ("auto", "hf"), "hf:")
        name, local = resolve_hf_name(uri[3:].strip(), base)
        if not name:
            raise SourceError("empty dataset name after 'hf:' (expected hf:OWNER/NAME)", source=spec.id)
        if local is not None and not local.exists():
            raise SourceError("local dataset folder not found", source=spec.id, file=str(local))
        return HFSource(spec, name, local)

    if uri.startswith("disk:"):
        _check_format(spec, ("auto", "hf_disk"), "disk:")
        path = _local_path(uri[5:].strip(), base)
        if not path.exists():
            raise SourceError("saved dataset folder not found", source=spec.id, file=str(path))
        return DiskSource(spec, path)

    package: tuple[str, str | None] | None = None
    if uri.startswith("pkg:"):
        path, package = resolve_pkg_path(uri, spec.id)
    else:
        path = _local_path(uri, base)
        if not path.exists():
            raise SourceError("file not found", source=spec.id, file=str(path))

    if fmt == "hf":  # a local dataset folder (or data file) read through load_dataset
        return HFSource(spec, str(path), path)
    if fmt == "hf_disk":
        return DiskSource(spec, path)
    if path.is_dir():
        if fmt == "auto" and any((path / m).is_file() for m in _SAVED_DATASET_MARKERS):
            return DiskSource(spec, path)
        raise SourceError("is a folder; use 'disk:PATH' for a dataset saved with save_to_disk, or 'hf:./PATH' (or "
                          "format: hf) to read a folder of data files with datasets.load_dataset",
                          source=spec.id, file=str(path))
    inferred, gzipped = infer_format(path)
    if fmt == "auto":
        if inferred is None:
            raise SourceError(f"cannot infer the format from the file name; use one of the suffixes "
                              f"{', '.join(sorted(SUFFIX_FORMATS))} (optionally .gz) or set format: "
                              f"{' | '.join(FILE_FORMATS)}", source=spec.id, file=str(path))
        fmt = inferred
    return FileSource(spec, path, fmt, gzipped=gzipped, package=package)


def open_task_sources(sources: list[SourceSpec], base_dir: Path | None = None) -> dict[str, Source]:
    """Open several sources at once (every problem is reported, not only the first)."""
    opened: dict[str, Source] = {}
    errors: list[str] = []
    for spec in sources:
        try:
            opened[spec.id] = open_source(spec, base_dir)
        except SourceError as e:
            errors.append(str(e))
    if errors:
        raise SourceError(f"{len(errors)} source(s) cannot be opened:\n  - " + "\n  - ".join(errors))
    return opened


def resolve_pkg_path(uri: str, source_id: str | None = None) -> tuple[Path, tuple[str, str | None]]:
    """`pkg:MODULE/path/in/package` -> (absolute path, (distribution name, version)). The module is located with
    `importlib.util.find_spec`, which does not import it (a dotted name imports its parents)."""
    rest = uri[4:].strip().lstrip("/")
    module, _, rel = rest.partition("/")
    if not module or not rel:
        raise SourceError(f"bad package uri {uri!r}: expected pkg:MODULE/path/inside/package", source=source_id)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise SourceError(f"package module '{module}' is not installed (pip install it, or fix the uri)",
                          source=source_id, file=uri)
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    candidates = [Path(r) / rel for r in roots]
    for path in candidates:
        if path.exists():
            return path.resolve(), package_version(module)
    shown = str(candidates[0]) if candidates else rel
    raise SourceError(f"file not found inside package '{module}'", source=source_id, file=shown)


@functools.lru_cache(maxsize=None)
def package_version(module: str) -> tuple[str, str | None]:
    """(distribution, version) that provides top-level `module` (the version is part of the fingerprint)."""
    top = module.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top) or [top]
    for dist in dists:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return dists[0], None


def _local_path(text: str, base: Path) -> Path:
    if text.startswith("file://"):
        text = text[7:]
    path = Path(text).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _check_format(spec: SourceSpec, allowed: tuple[str, ...], prefix: str) -> None:
    if spec.format not in allowed:
        raise SourceError(f"format {spec.format!r} does not go with a '{prefix}' uri (use one of: "
                          f"{', '.join(allowed)})", source=spec.id)
