"""Self-contained HTML reports with inline SVG bar charts."""
from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

_CSS = """body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}th{background:#f4f4f4}
.ok{color:#176f2c}.failed,.invalid{color:#a3231f}.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;font-size:12px}"""


def bar_chart(items: list[tuple[str, float]], *, width: int = 640, bar_h: int = 18, max_value: float | None = None,
              fmt: str = "{:.3f}") -> str:
    """Horizontal bar chart as inline SVG."""
    if not items:
        return "<p>(nothing to show)</p>"
    top = max_value if max_value is not None else max((v for _, v in items), default=1.0) or 1.0
    label_w, h = 170, bar_h * len(items) + 6
    rows = []
    for i, (label, v) in enumerate(items):
        y = i * bar_h + 3
        w = max(0.0, (width - label_w - 70) * (v / top if top else 0))
        rows.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7}" text-anchor="end" font-size="12">'
                    f'{html.escape(str(label))}</text><rect x="{label_w}" y="{y}" width="{w:.1f}" '
                    f'height="{bar_h - 4}" fill="#4a7ab5"/><text x="{label_w + w + 4}" y="{y + bar_h * 0.7}" '
                    f'font-size="12">{fmt.format(v)}</text>')
    return f'<svg width="{width}" height="{h}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else html.escape(str(c))}</td>" for c in r)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _num(x: Any) -> Any:
    return f"{x:.3f}" if isinstance(x, float) else ("" if x is None else x)


def cook_report(summary: dict[str, Any], out: Path) -> str:
    best = summary.get("best") or {}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>datachef cook: "
             f"{html.escape(summary['task'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>datachef cook — task <code>{html.escape(summary['task'])}</code></h1>",
             "<p>" + html.escape(
                 f"chef {summary['chef_model']}, form {summary['form']}"
                 f"{' (decoupled)' if summary.get('decoupled') else ''}; {summary['n']} sampled recipes"
                 + (f" ({summary['distinct_drafts']} distinct)" if "distinct_drafts" in summary else "")
                 + f", executability {summary['executability']:.0%}, DVS_avg@{summary['n']} {summary['dvs_avg']:.3f}; "
                 f"best-of-N {summary['best_of_n']['score']:.3f}"
                 + (f" ({summary['best_of_n']['records']} records)" if "records" in summary["best_of_n"] else "")
                 + (f", best after search {best.get('score') or 0:.3f} ({best.get('id')}, {best.get('records')} "
                    f"records)" if best else "")
                 + f"; {summary['seconds']} s") + "</p>"]
    cands = summary["candidates"]
    parts.append(f"<h2>Verifier score per candidate ({html.escape(summary.get('reward', 'composite'))} reward)</h2>")
    parts.append(bar_chart([(f"{c['id']} {c['origin']}", c["score"] or 0.0) for c in cands], max_value=1.0))
    parts.append(_table(["id", "origin", "form", "status", "score", "records", "repairs", "seconds", "error"], [
        [c["id"], c["origin"], c["form"], _Raw(f"<span class='{c['status']}'>{c['status']}</span>"
                                               + (f" (same program as {html.escape(c['duplicate_of'])}, not run "
                                                  f"again)" if c.get("duplicate_of") else "")),
         "" if c["score"] is None else f"{c['score']:.3f}", c["records"], c["repairs"], c["seconds"],
         (c["error"] or "")[:300]] for c in cands]))
    rewarded = [c for c in cands if c.get("reward_parts")]
    if rewarded:
        parts.append("<h2>Reward parts per candidate</h2><p>composite = quality × yield × breadth × leak factor; "
                     "quality counts records the whole-corpus checks flag (copies, held-out leaks) as Invalid; paper "
                     f"= the mean rubric score of the graded sample. DVS_avg@{summary['n']} by the paper's reward: "
                     f"{summary.get('dvs_avg_paper', 0.0):.3f}.</p>")
        cols = ["composite", "paper", "quality", "yield_factor", "breadth", "leak_factor", "useful_records"]
        parts.append(_table(["id", *[c.replace("_", " ") for c in cols]], [
            [c["id"], *[_num(c["reward_parts"].get(k)) for k in cols]] for c in rewarded]))
    best_dir = out / "best"
    if best and best_dir.exists():
        parts.append("<h2>Best recipe: grade histogram</h2>")
        parts.append(bar_chart(sorted(best.get("histogram", {}).items()), fmt="{:.0f}"))
        verify = best_dir / "verify.json"
        corpus = json.loads(verify.read_text()).get("corpus") if verify.exists() else None
        if corpus:
            parts.append("<h2>Best recipe: whole-corpus checks (every record)</h2>")
            parts.append(_table(["records", "held-out leaks", "exact copies", "near copies", "flagged", "seconds"], [[
                corpus["records"], corpus["leaks"], corpus["duplicates"], corpus["near_duplicates"],
                f"{corpus['flagged_fraction']:.1%}", corpus["seconds"]]]))
        data = best_dir / "data.jsonl"
        if data.exists():
            mix = Counter(json.loads(line).get("meta", {}).get("source", "?") for line in open(data, "rb"))
            parts.append("<h2>Best recipe: source mix</h2>")
            parts.append(bar_chart(mix.most_common(), fmt="{:.0f}"))
        if best.get("per_source"):
            parts.append("<h2>Best recipe: mean verifier score per source</h2>")
            parts.append(bar_chart(sorted(best["per_source"].items()), max_value=1.0))
        manifest = best_dir / "manifest.json"
        if manifest.exists():
            m = json.loads(manifest.read_text())
            parts.append("<h2>Best recipe: rows per step</h2>")
            parts.append(_table(["step", "op", "rows in", "rows out", "dropped", "seconds"], [
                [s["id"], s["op"], s["rows_in"], s["rows_out"],
                 ", ".join(f"{k}={v}" for k, v in s["dropped"].items()), f"{s['seconds']:.2f}"]
                for s in m["steps"]]))
        recipe = best_dir / "recipe.yaml"
        if recipe.exists():
            parts.append("<h2>Best recipe</h2><pre>" + html.escape(recipe.read_text()) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
