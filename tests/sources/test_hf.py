"""Hugging Face sources without the network: `disk:` datasets saved in tmp_path, the `hf:` load_dataset code path
on a local dataset folder, and a clear error when the Hub is unreachable."""
from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")

from datachef.errors import SourceError  # noqa: E402
from datachef.sources import feature_type_name, open_source, profile_source  # noqa: E402
from datachef.spec import SourceSpec  # noqa: E402

ROWS = [{"prompt": f"p{i}", "label": i % 2,
         "messages": [{"role": "user", "content": f"u{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(6)]


@pytest.fixture
def hf_offline(monkeypatch, tmp_path):
    """No network: offline flags in the environment and in the already-imported config modules; a private cache."""
    import huggingface_hub.constants

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


def _dataset():
    return datasets.Dataset.from_list(ROWS)


# -- disk: ---------------------------------------------------------------------------------------------------
def test_disk_dataset_ignores_split(tmp_path, hf_offline):
    _dataset().save_to_disk(str(tmp_path / "ds"))
    src = open_source(SourceSpec(id="d", uri="disk:ds"), tmp_path)
    assert list(src.iter_rows()) == ROWS
    assert list(src.iter_rows(split="whatever", limit=2)) == ROWS[:2]
    assert src.count() == (6, True)
    assert src.fields() == {"prompt": "str", "label": "int", "messages": "messages"}
    assert len(src.fingerprint()) == 16


def test_disk_dataset_dict_picks_split(tmp_path, hf_offline):
    ds = _dataset()
    datasets.DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 6))}).save_to_disk(
        str(tmp_path / "dd"))
    src = open_source(SourceSpec(id="dd", uri=f"disk:{tmp_path / 'dd'}"))
    assert src.count() == (4, True)  # default: train
    assert list(src.iter_rows("test")) == ROWS[4:]
    assert src.count("test") == (2, True)
    with pytest.raises(SourceError, match="split 'validation' does not exist") as e:
        src.iter_rows("validation")
    assert e.value.source == "dd"
    # A plain path to a saved dataset is recognised too.
    assert open_source(SourceSpec(id="dd2", uri=str(tmp_path / "dd"))).count("test") == (2, True)


def test_disk_fingerprint_changes_when_resaved(tmp_path, hf_offline):
    _dataset().save_to_disk(str(tmp_path / "ds"))
    fp = open_source(SourceSpec(id="d", uri=f"disk:{tmp_path / 'ds'}")).fingerprint()
    datasets.Dataset.from_list(ROWS[:2]).save_to_disk(str(tmp_path / "ds2"))
    import shutil

    shutil.rmtree(tmp_path / "ds")
    (tmp_path / "ds2").rename(tmp_path / "ds")
    assert open_source(SourceSpec(id="d", uri=f"disk:{tmp_path / 'ds'}")).fingerprint() != fp


def test_disk_missing_or_not_a_dataset(tmp_path):
    with pytest.raises(SourceError, match="not found") as e:
        open_source(SourceSpec(id="gone", uri=f"disk:{tmp_path / 'nothing'}"))
    assert e.value.source == "gone" and e.value.file == str(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    src = open_source(SourceSpec(id="e", uri=f"disk:{tmp_path / 'empty'}"))
    with pytest.raises(SourceError, match="load_from_disk"):
        src.count()


# -- hf: (the real load_dataset path, on a local dataset folder) ---------------------------------------------
def _hf_folder(tmp_path):
    folder = tmp_path / "my_dataset" / "data"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:4]))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[4:]))
    return tmp_path / "my_dataset"


@pytest.mark.parametrize("streaming", [True, False])
def test_hf_local_folder_through_load_dataset(tmp_path, hf_offline, streaming):
    _hf_folder(tmp_path)
    src = open_source(SourceSpec(id="h", uri="hf:./my_dataset", streaming=streaming), tmp_path)
    assert src.kind == "hf"
    assert list(src.iter_rows()) == ROWS[:4]  # default split: train
    assert list(src.iter_rows("test")) == ROWS[4:]
    assert list(src.iter_rows(limit=1)) == ROWS[:1]
    assert src.fields() == {"prompt": "str", "label": "int", "messages": "messages"}
    assert src.has_schema()
    if streaming:  # a stream knows its size only when the dataset's info says so
        assert src.count("test") in ((2, True), (None, False))
    else:
        assert src.count("test") == (2, True)
    prof = profile_source(src, "test")
    assert prof.rows == 2 and prof.rows_exact and prof.split == "test"


def test_hf_unknown_split_names_the_source(tmp_path, hf_offline):
    _hf_folder(tmp_path)
    src = open_source(SourceSpec(id="hsrc", uri=f"hf:{tmp_path / 'my_dataset'}"))
    with pytest.raises(SourceError) as e:
        list(src.iter_rows("validation"))
    assert e.value.source == "hsrc" and "validation" in str(e.value)


def test_hf_hub_unreachable_is_a_clear_error(hf_offline):
    src = open_source(SourceSpec(id="gsm8k_hub", uri="hf:openai/gsm8k", config="main", revision="main"))
    assert len(src.fingerprint()) == 16  # needs no network
    with pytest.raises(SourceError) as e:
        list(src.iter_rows(limit=1))
    msg = str(e.value)
    assert e.value.source == "gsm8k_hub"
    assert "openai/gsm8k" in msg and "config='main'" in msg and "unreachable" in msg


def test_hf_fingerprint_follows_name_config_split_revision():
    fp = lambda **kw: open_source(SourceSpec(id="x", uri="hf:o/n", **kw)).fingerprint()  # noqa: E731
    assert fp() == fp()
    assert len({fp(), fp(config="a"), fp(split="test"), fp(revision="abc")}) == 4


def test_hf_format_conflicts(tmp_path):
    with pytest.raises(SourceError, match="does not go with"):
        open_source(SourceSpec(id="x", uri="hf:o/n", format="csv"))
    with pytest.raises(SourceError, match="local dataset folder not found"):
        open_source(SourceSpec(id="x", uri="hf:./nope"), tmp_path)


def test_feature_type_names():
    f = datasets.Features({
        "s": datasets.Value("string"), "i": datasets.Value("int32"), "f": datasets.Value("float32"),
        "b": datasets.Value("bool"), "c": datasets.ClassLabel(names=["x", "y"]),
        "l": datasets.List(datasets.Value("string")),
        "m": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
        "d": {"k": datasets.Value("int64")}, "t": datasets.Value("timestamp[s]")})
    assert {k: feature_type_name(v) for k, v in f.items()} == {
        "s": "str", "i": "int", "f": "float", "b": "bool", "c": "int", "l": "list", "m": "messages", "d": "dict",
        "t": "any"}
