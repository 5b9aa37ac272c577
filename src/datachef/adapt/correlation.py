"""The statistics and the report of a proxy–downstream correlation study (`correlate.run_correlation`): Pearson and
Spearman with p-values between each proxy and each downstream score, the Markdown table, the CSV, the scatter plot
and correlation.json."""
from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..io import atomic_open, write_json_atomic

PROXIES = ("verifier", "verifier_paper", "length_tokens", "relevance")
DOWNSTREAM = ("accuracy", "neg_nll")
LABELS = {"verifier": "verifier score (composite)", "verifier_paper": "verifier score (paper)",
          "length_tokens": "mean response length (tokens)",
          "length_chars": "mean response length (chars)", "relevance": "embedding relevance",
          "accuracy": "benchmark accuracy", "neg_nll": "−gold-answer NLL"}
# DataChef's reported mean, over 6 tasks, of the Pearson correlation between the verifier score of a recipe's data
# and the benchmark score of the model fine-tuned on it.
PAPER_MEAN_PEARSON = 0.59


@dataclass
class StudyResult:
    out: Path
    rows: list[dict[str, Any]]
    base: dict[str, Any] | None
    correlations: dict[str, dict[str, dict[str, Any]]]
    summary: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -------------------------------------------------------------------------------------------------------- statistics

def correlate_scores(xs: list[float | None], ys: list[float | None]) -> dict[str, Any]:
    """Pearson and Spearman correlation (with two-sided p-values) of paired values; pairs with a missing or
    non-finite value are left out. Fewer than 3 pairs or a constant side give NaN and a `note`, never an error."""
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys)
             if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))]
    nan = float("nan")
    out: dict[str, Any] = {"n": len(pairs), "pearson": nan, "pearson_p": nan, "spearman": nan, "spearman_p": nan,
                           "note": None}
    if len(pairs) < 3:
        out["note"] = f"only {len(pairs)} corpora with both values (need 3)"
        return out
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    constant = [name for name, v in (("proxy", a), ("downstream score", b)) if max(v) - min(v) <= 1e-12 * max(
        1.0, abs(max(v)))]
    if constant:
        out["note"] = f"constant {' and '.join(constant)} across corpora: correlation undefined"
        return out
    from scipy import stats

    with warnings.catch_warnings():  # near-constant inputs warn; the values are still defined
        warnings.simplefilter("ignore")
        pr = stats.pearsonr(a, b)
        sr = stats.spearmanr(a, b)
    out.update(pearson=float(pr.statistic), pearson_p=float(pr.pvalue), spearman=float(sr.statistic),
               spearman_p=float(sr.pvalue))
    if not math.isfinite(out["spearman"]):
        out["note"] = "ranks are constant on one side: Spearman undefined"
    return out


def correlation_table(rows: list[dict[str, Any]], proxies: tuple[str, ...] = PROXIES,
                      downstream: tuple[str, ...] = DOWNSTREAM) -> dict[str, dict[str, dict[str, Any]]]:
    """{proxy: {downstream score: correlate_scores(...)}} over the corpus rows."""
    return {p: {d: correlate_scores([r.get(p) for r in rows], [r.get(d) for r in rows]) for d in downstream}
            for p in proxies}


def score_spread(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Can the benchmark score tell these corpora apart at all? A χ² test of homogeneity of the items right
    (accuracy × eval_n) across corpora: a large p means the corpora's accuracies differ no more than chance would
    make them, and any correlation with accuracy is noise. None when the score is not a share of items right."""
    counts = []
    for r in rows:
        n, score = r.get("eval_n"), r.get("accuracy")
        if not n or score is None or not math.isfinite(score):
            continue
        right = score * n
        if abs(right - round(right)) > 1e-6:
            return None  # a graded score (e.g. F1): not counts of items right
        counts.append([round(right), n - round(right)])
    if len(counts) < 2:
        return None
    out = {"test": "chi-square homogeneity of items right", "corpora": len(counts), "dof": len(counts) - 1}
    if min(sum(c[0] for c in counts), sum(c[1] for c in counts)) == 0:
        return out | {"chi2": 0.0, "p": 1.0}  # every corpus got every item right (or wrong): no spread
    from scipy import stats

    res = stats.chi2_contingency(counts, correction=False)
    return out | {"chi2": float(res.statistic), "p": float(res.pvalue)}


def mean_finite(values: list[float]) -> float:
    good = [v for v in values if v is not None and math.isfinite(v)]
    return sum(good) / len(good) if good else float("nan")


# ---------------------------------------------------------------------------------------------------------- outputs

def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return f"{p:.2g}" if p >= 1e-3 else "<0.001"


def render_table(result: StudyResult) -> str:
    """The per-corpus table, the correlation table and the notes, as Markdown."""
    lines = ["| corpus | kind | records | verifier (composite) | verifier (paper) | length (tok) | length (chars) | "
             "relevance | accuracy | gold NLL | train loss |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result.rows:
        lines.append(f"| {r['id']} | {r['kind']} | {r['records']} | {_fmt(r['verifier'])} | "
                     f"{_fmt(r.get('verifier_paper'))} | {_fmt(r['length_tokens'], 1)} | {_fmt(r['length_chars'], 1)} "
                     f"| {_fmt(r['relevance'])} | {_fmt(r.get('accuracy'))} | {_fmt(r.get('nll'))} | "
                     f"{_fmt(r.get('train_loss'))} |")
    if result.base:
        lines.append(f"| *base (untrained)* | reference | 0 | — | — | — | — | — | {_fmt(result.base['accuracy'])} | "
                     f"{_fmt(result.base['nll'])} | — |")
    head = " | ".join(f"{LABELS[d]}: Pearson r (p) | Spearman ρ (p)" for d in DOWNSTREAM)
    lines += ["", f"| proxy | {head} | mean Pearson |", "|---|" + "---:|" * (2 * len(DOWNSTREAM) + 1)]
    for p, by_score in result.correlations.items():
        cells = []
        for d in DOWNSTREAM:
            c = by_score[d]
            cells += [f"{_fmt(c['pearson'])} ({_fmt_p(c['pearson_p'])})",
                      f"{_fmt(c['spearman'])} ({_fmt_p(c['spearman_p'])})"]
        lines.append(f"| {LABELS[p]} | " + " | ".join(cells) + f" | {_fmt(result.summary[p]['mean_pearson'])} |")
    n = len(result.rows)

    def vs_accuracy(proxy: str) -> str:
        return _fmt(result.correlations.get(proxy, {}).get("accuracy", {}).get("pearson"))

    lines += ["", f"n = {n} corpora. Pearson r with the benchmark score (the paper's protocol; its mean over 6 tasks "
                  f"is {PAPER_MEAN_PEARSON}): composite verifier reward {vs_accuracy('verifier')}, paper-style reward "
                  f"{vs_accuracy('verifier_paper')}, embedding relevance {vs_accuracy('relevance')}. Mean Pearson over "
                  f"both downstream scores: composite {_fmt(result.summary['verifier']['mean_pearson'])}, paper "
                  f"{_fmt(result.summary['verifier_paper']['mean_pearson'])}."]
    spread = result.summary.get("accuracy_spread")
    if spread:
        verdict = ("the corpora's accuracies differ no more than chance would make them: at this scale the benchmark "
                   "cannot rank them, and correlations with accuracy are noise (read the gold NLL)"
                   if spread["p"] > 0.05 else "the corpora's accuracies differ beyond chance")
        lines += ["", f"Accuracy spread: χ² test of homogeneity over {spread['corpora']} corpora, p = "
                      f"{_fmt_p(spread['p'])}: {verdict}."]
    if result.notes:
        lines += [""] + [f"- note: {x}" for x in result.notes]
    return "\n".join(lines) + "\n"


def write_outputs(result: StudyResult, *, task: str, config: BaseModel, budget: int) -> None:
    out = result.out
    write_json_atomic(out / "correlation.json", {
        "task": task, "budget": budget, "config": config.model_dump(mode="json"), "corpora": result.rows,
        "base": result.base, "correlations": result.correlations, "summary": result.summary,
        "timings": result.timings, "notes": result.notes})
    with atomic_open(out / "table.md") as f:
        f.write(render_table(result))
    cols = ["id", "kind", "records", "verifier", "verifier_paper", "length_tokens", "length_chars", "relevance",
            "accuracy", "nll", "neg_nll", "train_loss", "train_steps", "description"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in result.rows:
        w.writerow(r)
    with atomic_open(out / "table.csv") as f:
        f.write(buf.getvalue())
    plot_scatter(result, out / "scatter.png")


def plot_scatter(result: StudyResult, path: Path) -> None:
    """One panel per (proxy, downstream score): labelled corpora, the base model as a dashed line, r in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(PROXIES), len(DOWNSTREAM), figsize=(5.5 * len(DOWNSTREAM), 4 * len(PROXIES)),
                             squeeze=False)
    colors = {"source": "tab:blue", "length": "tab:orange", "size": "tab:purple", "recipe": "tab:green"}
    for i, p in enumerate(PROXIES):
        for j, d in enumerate(DOWNSTREAM):
            ax = axes[i][j]
            pts = [(r[p], r.get(d), r) for r in result.rows
                   if r.get(p) is not None and r.get(d) is not None and math.isfinite(r[p]) and math.isfinite(r[d])]
            for x, y, r in pts:
                ax.scatter([x], [y], color=colors.get(r["kind"], "gray"), s=30)
                ax.annotate(r["id"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            if result.base is not None:
                ref = result.base["accuracy"] if d == "accuracy" else (
                    -result.base["nll"] if result.base.get("nll") is not None else None)
                if ref is not None:
                    ax.axhline(ref, color="gray", linestyle="--", linewidth=0.8, label="base (untrained)")
                    ax.legend(fontsize=7, loc="best")
            c = result.correlations[p][d]
            ax.set_title(f"r = {_fmt(c['pearson'], 2)}, ρ = {_fmt(c['spearman'], 2)} (n = {c['n']})", fontsize=9)
            ax.set_xlabel(LABELS[p], fontsize=8)
            ax.set_ylabel(LABELS[d], fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
