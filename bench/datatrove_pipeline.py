"""The datatrove equivalent of the engine_throughput recipe, for a side-by-side throughput/memory figure.

Runs under a separate interpreter that has datatrove (e.g. /tmp/dtvenv/bin/python); it must not import datachef.

    python bench/datatrove_pipeline.py --input rows.jsonl --workdir DIR [--json OUT] [--tokenizer split|spacy]

Pipeline (one process, LocalPipelineExecutor with workers=1, i.e. ranks run sequentially in this process):

  1. JsonlReader (text = question + "\\n" + answer) -> GopherRepetitionFilter -> GopherQualityFilter
     -> JsonlWriter(filtered) -> ExactDedupSignature                                          tasks=1
  2. ExactFindDedups                                                                          tasks=1
  3. JsonlReader(filtered) -> ExactDedupFilter -> JsonlWriter(exact) -> MinhashDedupSignature  tasks=1
  4. MinhashDedupBuckets                                     tasks=num_buckets (datatrove requires one per bucket)
  5. MinhashDedupCluster                                                                      tasks=1
  6. JsonlReader(exact) -> MinhashDedupFilter -> JsonlWriter(output)                          tasks=1

Tokenizer (both work offline): `split` (default) plugs a whitespace WordTokenizer into the Gopher filters and
MinHash, as datachef splits words; `spacy` is datatrove's own English default, spaCy's *blank* "en" pipeline
(rule-based, no model download; NLTK punkt, which would try to download data, is never used for English) and needs
`pip install spacy`. Two Gopher thresholds follow datachef's quality_filter (see the comment in `run`). Writers are
uncompressed jsonl, like datachef's output. Prints one JSON object with wall and CPU seconds, rows/s, peak RSS and
rows dropped per stage.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import sys
import time
from pathlib import Path


def _maxrss_mib(who: int) -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its waited-for children (robust to a busy machine)."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def _count_lines(folder: Path) -> int:
    n = 0
    for p in sorted(folder.glob("*.jsonl")):
        with open(p, "rb") as f:
            n += sum(1 for _ in f)
    return n


def _qa_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    """Reader adapter: the document text is question + newline + answer (what datachef's filters read)."""
    return {"text": f"{data.get('question', '')}\n{data.get('answer', '')}", "id": data.get("id", id_in_file),
            "metadata": {}}


def split_tokenizer():
    """A datatrove WordTokenizer that splits on whitespace (`str.split`), like datachef's filters.

    datatrove's English default is spaCy's blank pipeline (~3.6 ms per 150-word document on the 2-core bench box,
    called once per filter and again for MinHash), which would make the comparison mostly a spaCy benchmark."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class SplitTokenizer(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [s for s in (x.strip() for x in text.split("\n")) if s]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [m.span() for m in re.finditer(r"[^\n]+", text)]

    return SplitTokenizer("en")


def _exact_content(doc) -> str:  # return annotation picks datatrove's str hash function
    return doc.text


def run(input_file: Path, workdir: Path, *, tokenizer: str = "split", num_buckets: int = 14, hashes_per_bucket: int = 8,
        n_grams: int = 5) -> dict:
    """Run the pipeline on `input_file`, with scratch and output under `workdir`; return the figures.

    tokenizer: "split" (whitespace, see `split_tokenizer`) or "spacy" (datatrove's English default, spaCy blank)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import (ExactDedupConfig, ExactDedupFilter, ExactDedupSignature,
                                                      ExactFindDedups)
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    if workdir.exists():
        shutil.rmtree(workdir)
    d = {k: workdir / k for k in ("logs", "filtered", "exact_sigs", "exact_dups", "exact", "mh_sigs", "mh_buckets",
                                  "mh_remove", "output")}
    lang = split_tokenizer() if tokenizer == "split" else "en"
    exact_cfg = ExactDedupConfig(content_getter=_exact_content)
    mh_cfg = MinhashConfig(n_grams=n_grams, num_buckets=num_buckets, hashes_per_bucket=hashes_per_bucket)

    def reader(folder: Path, glob: str = "*.jsonl", adapter=None) -> JsonlReader:
        return JsonlReader(str(folder), glob_pattern=glob, compression=None, adapter=adapter)

    def writer(folder: Path) -> JsonlWriter:
        return JsonlWriter(str(folder), output_filename="${rank}.jsonl", compression=None)

    def executor(name: str, pipeline: list, tasks: int = 1) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, skip_completed=False,
                                     logging_dir=str(d["logs"] / name))

    stages = [
        ("filter+exact_sig", executor("s1", [
            reader(input_file.parent, input_file.name, _qa_adapter),
            # Two thresholds follow datachef's quality_filter, which loosens Gopher's for worked math (numbers and
            # operators are non-alphabetic words; a problem restates its item names): alpha words >= 0.3 instead of
            # 0.8, top 2/3/4-gram coverage <= 0.35 instead of 0.2/0.18/0.16. The rest are datatrove's defaults.
            GopherRepetitionFilter(top_n_grams=((2, 0.35), (3, 0.35), (4, 0.35)), language=lang),
            GopherQualityFilter(max_non_alpha_words_ratio=0.3, language=lang),
            writer(d["filtered"]),
            ExactDedupSignature(str(d["exact_sigs"]), config=exact_cfg),
        ])),
        ("exact_find", executor("s2", [ExactFindDedups(str(d["exact_sigs"]), str(d["exact_dups"]), config=exact_cfg)])),
        ("exact_filter+minhash_sig", executor("s3", [
            reader(d["filtered"]),
            ExactDedupFilter(str(d["exact_dups"]), config=exact_cfg),
            writer(d["exact"]),
            MinhashDedupSignature(str(d["mh_sigs"]), config=mh_cfg, language=lang),
        ])),
        ("minhash_buckets", executor("s4", [MinhashDedupBuckets(str(d["mh_sigs"]), str(d["mh_buckets"]),
                                                                config=mh_cfg)], tasks=num_buckets)),
        ("minhash_cluster", executor("s5", [MinhashDedupCluster(str(d["mh_buckets"]), str(d["mh_remove"]),
                                                                config=mh_cfg)])),
        ("minhash_filter+write", executor("s6", [
            reader(d["exact"]),
            MinhashDedupFilter(str(d["mh_remove"])),
            writer(d["output"]),
        ])),
    ]

    with open(input_file, "rb") as f:
        rows_in = sum(1 for _ in f)
    seconds: dict[str, float] = {}
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    for name, ex in stages:
        t = time.perf_counter()
        ex.run()
        seconds[name] = round(time.perf_counter() - t, 3)
    wall = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0

    filtered, exact, out = _count_lines(d["filtered"]), _count_lines(d["exact"]), _count_lines(d["output"])
    return {
        "tool": "datatrove",
        "version": _version(),
        "rows_in": rows_in,
        "rows_out": out,
        "dropped": {"quality (gopher)": rows_in - filtered, "exact dedup": filtered - exact,
                    "minhash dedup": exact - out},
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows_in / wall, 1) if wall else None,
        "cpu_s": round(cpu, 3),
        "rows_per_cpu_s": round(rows_in / cpu, 1) if cpu else None,
        "peak_rss_mib": round(max(_maxrss_mib(resource.RUSAGE_SELF), _maxrss_mib(resource.RUSAGE_CHILDREN)), 1),
        "peak_rss_self_mib": round(_maxrss_mib(resource.RUSAGE_SELF), 1),
        "peak_rss_children_mib": round(_maxrss_mib(resource.RUSAGE_CHILDREN), 1),
        "stage_seconds": seconds,
        "config": {"minhash": f"{num_buckets}x{hashes_per_bucket}, {n_grams}-grams",
                   "tokenizer": "str.split" if tokenizer == "split" else "spaCy blank 'en'",
                   "filters": "GopherRepetitionFilter(top_n_grams<=0.35) + GopherQualityFilter(alpha words>=0.3)",
                   "workers": 1},
        "output": str(d["output"]),
    }


def _version() -> str:
    from importlib.metadata import version

    return version("datatrove")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, type=Path, help="jsonl with question/answer fields")
    ap.add_argument("--workdir", required=True, type=Path, help="scratch + output folder (wiped first)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--tokenizer", choices=["split", "spacy"], default="split",
                    help="word splitter for the Gopher filters and MinHash: whitespace (default, like datachef) or "
                         "datatrove's English default, spaCy's blank pipeline (offline, ~10x slower here)")
    args = ap.parse_args(argv)
    if not args.input.is_file():
        ap.error(f"--input {args.input}: no such file")
    res = run(args.input.resolve(), args.workdir.resolve(), tokenizer=args.tokenizer)
    text = json.dumps(res, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
