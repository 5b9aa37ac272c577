"""Hugging Face datasets: from the Hub (`hf:OWNER/NAME`, through `datasets.load_dataset`) or saved to disk
(`disk:/path`, through `datasets.load_from_disk`).

`datasets` is imported only here and only when a dataset is actually loaded: it is slow to import.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from ..errors import SourceError
from ..spec import SourceSpec
from .base import Malformed, Source

DEFAULT_SPLIT = "train"
_STATE_FILES = ("state.json", "dataset_info.json", "dataset_dict.json")
_MAX_FINGERPRINT_FILES = 10_000


def feature_type_name(feature: Any) -> str:
    """datachef type name of a `datasets` feature (Value, ClassLabel, List, dict, ...)."""
    kind = type(feature).__name__
    if isinstance(feature, dict):
        return "dict"
    if isinstance(feature, (list, tuple)):  # the old `[Value(...)]` list-of-feature form
        return _list_type(feature[0] if feature else None)
    if kind == "Value":
        dtype = str(getattr(feature, "dtype", ""))
        if dtype in ("string", "large_string", "string_view"):
            return "str"
        if dtype == "bool":
            return "bool"
        if dtype.startswith(("int", "uint")):
            return "int"
        if dtype.startswith("float") or dtype == "double":
            return "float"
        if dtype == "null":
            return "null"
        return "any"  # timestamps, binary, decimals: Python objects, not JSON-like values
    if kind == "ClassLabel":
        return "int"
    if kind in ("List", "LargeList", "Sequence"):
        return _list_type(getattr(feature, "feature", None))
    if kind.startswith("Array"):
        return "list"
    if kind in ("Translation", "TranslationVariableLanguages"):
        return "dict"
    return "any"


def _list_type(item: Any) -> str:
    if isinstance(item, dict) and {"role", "content"} <= set(item):
        return "messages"
    return "list"


def features_to_fields(features: Any) -> dict[str, str] | None:
    if not features:
        return None
    return {name: feature_type_name(f) for name, f in features.items()}


def resolve_hf_name(name: str, base_dir: Path) -> tuple[str, Path | None]:
    """(what to pass to `load_dataset`, local folder or None). `hf:./folder`, `hf:/abs/folder` and `hf:~/x` are local
    dataset folders (resolved against `base_dir`); anything else is a Hub repo id."""
    if name.startswith(("/", "./", "../", "~")) or name in (".", ".."):
        path = Path(name).expanduser()
        path = (path if path.is_absolute() else base_dir / path).resolve()
        return str(path), path
    return name, None


class HFSource(Source):
    """A dataset read with `datasets.load_dataset(name, config, split=..., revision=..., streaming=...)`."""

    kind = "hf"

    def __init__(self, spec: SourceSpec, name: str, local_dir: Path | None = None):
        super().__init__(spec, name)
        self.name, self.local_dir = name, local_dir
        self._datasets: dict[str, Any] = {}

    def resolve_split(self, split: str | None) -> str:
        return split or self.spec.split or DEFAULT_SPLIT

    def dataset(self, split: str) -> Any:
        """The loaded `Dataset` (or `IterableDataset` when streaming) for `split`, loaded once."""
        if split not in self._datasets:
            import datasets

            try:
                self._datasets[split] = datasets.load_dataset(self.name, self.spec.config, split=split,
                                                              revision=self.spec.revision,
                                                              streaming=self.spec.streaming)
            except Exception as e:  # datasets raises many types (ConnectionError, DatasetNotFoundError, ValueError)
                raise self._load_error(split, e) from None
        return self._datasets[split]

    def _load_error(self, split: str, e: Exception) -> SourceError:
        what = f"config={self.spec.config!r}, split={split!r}, revision={self.spec.revision!r}"
        text = f"{type(e).__name__}: {e}"
        hint = ""
        lowered = text.lower()
        if self.local_dir is None:
            if isinstance(e, (ConnectionError, TimeoutError)) or any(
                    w in lowered for w in ("offline", "couldn't reach", "connection", "timed out")):
                offline = [v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
                           if os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")]
                flags = f" ({' and '.join(offline)} set)" if offline else ""
                hint = (f" — the Hugging Face Hub is unreachable{flags}; use a local copy instead "
                        "(disk:PATH from save_to_disk, or a jsonl/parquet file)")
            elif "doesn't exist" in lowered or "not found" in lowered:
                hint = " — check the dataset name (OWNER/NAME) and that you may access it"
        return SourceError(f"cannot load Hugging Face dataset '{self.name}' ({what}): {text}{hint}",
                           source=self.spec.id)

    def _rows(self, split: str | None, malformed: Malformed) -> Iterator[dict[str, Any]]:
        assert split is not None
        ds = self.dataset(split)
        try:
            for row in ds:
                yield dict(row)
        except (ConnectionError, TimeoutError, OSError) as e:  # a stream can break half-way
            raise SourceError(f"reading Hugging Face dataset '{self.name}' split '{split}' failed: "
                              f"{type(e).__name__}: {e}", source=self.spec.id) from None

    def _count(self, split: str | None) -> tuple[int | None, bool]:
        assert split is not None
        ds = self.dataset(split)
        if hasattr(ds, "__len__"):
            return len(ds), True
        splits = getattr(getattr(ds, "info", None), "splits", None) or {}
        info = splits.get(split) if hasattr(splits, "get") else None
        n = getattr(info, "num_examples", None)
        return (int(n), True) if n else (None, False)

    def _schema(self, split: str | None) -> dict[str, str] | None:
        assert split is not None
        return features_to_fields(getattr(self.dataset(split), "features", None))

    def _fingerprint_parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {"name": self.name, "config": self.spec.config, "split": self.spec.split,
                                 "revision": self.spec.revision}
        if self.local_dir is not None:
            parts["files"] = _tree_stat(self.local_dir)
        return parts

    def _file_for_errors(self) -> str | None:
        return str(self.local_dir) if self.local_dir else None


class DiskSource(Source):
    """A dataset saved with `save_to_disk`: a `Dataset` (split ignored) or a `DatasetDict` (split picked)."""

    kind = "disk"

    def __init__(self, spec: SourceSpec, path: Path):
        super().__init__(spec, str(path))
        self.path = path
        self._loaded: Any = None

    def loaded(self) -> Any:
        if self._loaded is None:
            import datasets

            try:
                self._loaded = datasets.load_from_disk(str(self.path))
            except Exception as e:  # FileNotFoundError for a folder that is not a saved dataset, and others
                raise SourceError(f"cannot load a saved dataset (datasets.load_from_disk): {type(e).__name__}: {e}",
                                  source=self.spec.id, file=str(self.path)) from None
        return self._loaded

    def is_dict(self) -> bool:
        import datasets

        return isinstance(self.loaded(), (datasets.DatasetDict, dict))

    def resolve_split(self, split: str | None) -> str | None:
        if not self.is_dict():
            return None  # a single Dataset: whatever split is asked for, this is it
        available = list(self.loaded().keys())
        wanted = split or self.spec.split
        if wanted is None:
            if DEFAULT_SPLIT in available:
                return DEFAULT_SPLIT
            if len(available) == 1:
                return available[0]
            raise SourceError(f"the saved DatasetDict has splits {available}; say which one (split: ...)",
                              source=self.spec.id, file=str(self.path))
        if wanted not in available:
            raise SourceError(f"split '{wanted}' does not exist; the saved DatasetDict has {available}",
                              source=self.spec.id, file=str(self.path))
        return wanted

    def dataset(self, split: str | None) -> Any:
        ds = self.loaded()
        return ds[split] if split is not None else ds

    def _rows(self, split: str | None, malformed: Malformed) -> Iterator[dict[str, Any]]:
        for row in self.dataset(split):
            yield dict(row)

    def _count(self, split: str | None) -> tuple[int | None, bool]:
        return len(self.dataset(split)), True

    def _schema(self, split: str | None) -> dict[str, str] | None:
        return features_to_fields(self.dataset(split).features)

    def _fingerprint_parts(self) -> dict[str, Any]:
        # The state files are rewritten on every save_to_disk, so their stats change with the content.
        states = []
        for folder in [self.path, *sorted(p for p in self.path.iterdir() if p.is_dir())]:
            for name in _STATE_FILES:
                f = folder / name
                if f.is_file():
                    st = f.stat()
                    states.append([str(f.relative_to(self.path)), st.st_size, st.st_mtime_ns])
        return {"path": str(self.path), "states": states}


def _tree_stat(root: Path) -> list[list[Any]]:
    """(relative path, size, mtime_ns) of the files under a local dataset folder, hidden ones excluded."""
    out: list[list[Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            st = p.stat()
            out.append([str(p.relative_to(root)), st.st_size, st.st_mtime_ns])
            if len(out) >= _MAX_FINGERPRINT_FILES:
                return out
    return out
