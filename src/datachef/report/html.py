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
                     "quality counts records the whole-corpus checks flag (copies, held-out leaks) as Invalid; breadth "
                     "is the share of the benchmark's dev questions that a passing record covers; paper "
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
                corpus["records"], corpus["leaks"], corpus["duplicates"],
                corpus["near_duplicates"] if corpus.get("near_duplicate_check", "on") == "on" else "not checked",
                f"{corpus['flagged_fraction']:.1%}", corpus["seconds"]]]))
            if corpus.get("near_duplicate_check", "on") != "on":
                parts.append(f"<p>Near-copy check {html.escape(corpus['near_duplicate_check'])}.</p>")
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


def grouped_bar_chart(groups: list[tuple[str, list[tuple[str, float | None, str]]]], *, width: int = 760,
                      bar_h: int = 14, max_value: float = 1.0) -> str:
    """Horizontal bars in groups (one group per label, one bar per series: (name, value, colour)) as inline SVG,
    with a legend; a missing value draws no bar and says so."""
    if not groups:
        return "<p>(nothing to show)</p>"
    label_w, gap = 190, 8
    series = [(name, colour) for name, _, colour in groups[0][1]]
    legend = "".join(f'<rect x="{label_w + 150 * i}" y="2" width="12" height="12" fill="{c}"/>'
                     f'<text x="{label_w + 150 * i + 16}" y="12" font-size="12">{html.escape(n)}</text>'
                     for i, (n, c) in enumerate(series))
    rows, y = [legend], 22
    for label, bars in groups:
        rows.append(f'<text x="{label_w - 6}" y="{y + bar_h * len(bars) / 2 + 4}" text-anchor="end" '
                    f'font-size="12">{html.escape(label)}</text>')
        for _, value, colour in bars:
            w = 0.0 if value is None else max(0.0, (width - label_w - 60) * value / max_value)
            text = "–" if value is None else f"{100 * value:.1f}"
            rows.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}"/>'
                        f'<text x="{label_w + w + 4}" y="{y + bar_h - 3}" font-size="11">{text}</text>')
            y += bar_h
        y += gap
    return f'<svg width="{width}" height="{y + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'


def chef_eval_report(summary: dict[str, Any]) -> str:
    """chef-eval's page: per-task bars (DVS_avg@N, best-of-N, expert) and the averages, then the table."""
    n, chef = summary["n"], summary["chef"]
    colours = (("DVS_avg@%d" % n, "dvs_avg", "#4a7ab5"), ("best-of-%d" % n, "best_of_n", "#9bb7dd"),
               ("expert recipe", "expert", "#d08a3c"))
    groups = [(f"{r['task']} ({r['split']})", [(name, r.get(key), c) for name, key, c in colours])
              for r in summary["tasks"]]
    groups += [(f"{label} average", [(name, a.get(key), c) for name, key, c in colours])
               for label, a in summary["averages"].items()]
    def x100(v: Any) -> str:
        return "–" if v is None else f"{100 * v:.1f}"

    def tasks(k: int) -> str:
        return f"{k} task" + ("s" if k != 1 else "")

    headers = ["task", "split", "executability %", f"DVS_avg@{n}", f"best-of-{n}", "mean records", "expert"]
    rows = [[r["task"], r["split"], x100(r["executability"]), x100(r["dvs_avg"]), x100(r["best_of_n"]),
             f"{r['mean_records']:.0f}", x100(r["expert"])] for r in summary["tasks"]]
    rows += [[f"{label} average ({tasks(a['tasks'])})", "", x100(a["executability"]), x100(a["dvs_avg"]),
              x100(a["best_of_n"]), "", x100(a["expert"])] for label, a in summary["averages"].items()]
    title = f"datachef chef-eval: {chef['chef']} ({chef['form']})"
    return "".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p>" + html.escape(f"N = {n} recipes per task, each executed and verified on {summary['sample']} sampled "
                            f"instances (reward: {summary['reward']}); DVS_avg@{n} counts a failed or invalid "
                            "recipe as 0. Scores shown x100.") + "</p>",
        grouped_bar_chart(groups), "<h2>Per task</h2>", _table(headers, rows), "</body></html>"])


def line_chart(series: list[tuple[str, list[tuple[float, float]], str]], *, width: int = 760, height: int = 220,
               y_range: tuple[float, float] | None = None, y_label: str = "") -> str:
    """Lines over steps (one per series: (name, [(x, y)], colour)) as inline SVG, with axes, ticks and a legend."""
    points = [p for _, pts, _ in series for p in pts]
    if not points:
        return "<p>(nothing to show)</p>"
    left, right, top, bottom = 62, 14, 24, 30
    x0, x1 = min(x for x, _ in points), max(x for x, _ in points)
    y0, y1 = y_range if y_range is not None else (min(y for _, y in points), max(y for _, y in points))
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x: float) -> float:
        return left + (width - left - right) * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return height - bottom - (height - top - bottom) * (y - y0) / (y1 - y0)

    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>']
    for k in range(5):
        y = y0 + (y1 - y0) * k / 4
        parts.append(f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">{y:.2g}</text>'
                     f'<line x1="{left}" y1="{sy(y):.1f}" x2="{width - right}" y2="{sy(y):.1f}" stroke="#eee"/>')
    for x in sorted({round(x0 + (x1 - x0) * k / 5) for k in range(6)}):  # whole steps
        parts.append(f'<text x="{sx(x):.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="11">'
                     f'{x:.0f}</text>')
    parts.append(f'<text x="{(left + width) / 2}" y="{height - 2}" text-anchor="middle" font-size="11">step</text>'
                 f'<text x="12" y="{top - 8}" font-size="11">{html.escape(y_label)}</text>')
    for i, (name, pts, colour) in enumerate(series):
        if pts:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(pts))
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
            parts.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"/>' for x, y in pts)
        parts.append(f'<rect x="{left + 10 + 170 * i}" y="4" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{left + 26 + 170 * i}" y="14" font-size="12">{html.escape(name)}</text>')
    return f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'


def stacked_bar_chart(rows: list[tuple[str, list[tuple[str, float, str]]]], *, width: int = 760,
                      bar_h: int = 16) -> str:
    """One horizontal bar per row made of parts ((name, value, colour), e.g. seconds per phase), with the row's
    total at its end and a legend, as inline SVG."""
    if not rows:
        return "<p>(nothing to show)</p>"
    label_w = 90
    top = max(sum(v for _, v, _ in parts) for _, parts in rows) or 1.0
    scale = (width - label_w - 60) / top
    legend = "".join(f'<rect x="{label_w + 130 * i}" y="2" width="12" height="12" fill="{c}"/>'
                     f'<text x="{label_w + 130 * i + 16}" y="12" font-size="12">{html.escape(n)}</text>'
                     for i, (n, _, c) in enumerate(rows[0][1]))
    out, y = [legend], 22
    for label, parts in rows:
        x = float(label_w)
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" font-size="12">'
                   f'{html.escape(label)}</text>')
        for name, value, colour in parts:
            w = max(0.0, value * scale)
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h - 3}" fill="{colour}">'
                       f'<title>{html.escape(name)}: {value:.0f} s</title></rect>')
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4}" font-size="11">'
                   f'{sum(v for _, v, _ in parts):.0f} s</text>')
        y += bar_h
    return f'<svg width="{width}" height="{y + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(out)}</svg>'


def grpo_report(run: dict[str, Any], metrics: list[dict[str, Any]]) -> str:
    """`datachef rl grpo`'s page: the reward and executability over steps, KL, the time split per step, the
    settings and the per-step table."""
    s = run.get("settings", {})
    title = "datachef rl grpo"

    def series(key: str) -> list[tuple[float, float]]:
        return [(m["step"], m[key]) for m in metrics if m.get(key) is not None]

    band = [(m["step"], m["reward_mean"] + (m.get("reward_std") or 0)) for m in metrics
            if m.get("reward_mean") is not None]
    low = [(m["step"], m["reward_mean"] - (m.get("reward_std") or 0)) for m in metrics
           if m.get("reward_mean") is not None]
    rewards = line_chart([("reward (mean)", series("reward_mean"), "#4a7ab5"),
                          ("mean + std", band, "#b9cbe4"), ("mean - std", low, "#b9cbe4"),
                          ("best in batch", series("reward_max"), "#7fb77e")], y_label="reward")
    shares = line_chart([("executable (a recipe)", series("executability"), "#4a7ab5"),
                         ("ran and scored", series("ran"), "#d08a3c")], y_range=(0.0, 1.0), y_label="share")
    kl = line_chart([("KL to the start model", series("kl"), "#a3231f")], y_label="KL")
    times = stacked_bar_chart([(f"step {m['step']}", [(part, m["seconds"][part], colour) for part, colour in
                                                      (("generation", "#4a7ab5"), ("reward", "#7fb77e"),
                                                       ("update", "#d08a3c"))]) for m in metrics])
    summary = run.get("summary") or {}
    per_step = summary.get("seconds_per_step") or {}
    rows = [[m["step"], _num(m.get("reward_mean")), _num(m.get("reward_std")), f"{m['executability']:.0%}",
             f"{m['ran']:.0%}", "" if m.get("kl") is None else f"{m['kl']:.5f}", _num(m.get("completion_length")),
             m["seconds"]["generation"], m["seconds"]["reward"], m["seconds"]["update"], m["seconds"]["total"]]
            for m in metrics]
    head = (f"start model {run.get('start')}" + (f" (cold start: {run['cold_start']})" if run.get("cold_start")
                                                 else " (no cold start)")
            + f"; {len(run.get('instances', []))} task instances; G = {s.get('group_size')}, "
            f"{s.get('prompts_per_step')} instances per step, lr {s.get('lr')}, beta {s.get('beta')}, epsilon "
            f"{s.get('epsilon')}, temperature {s.get('temperature')}, {s.get('decoding')} decoding, "
            f"{'LoRA' if s.get('lora') else 'full fine-tuning'}; reward "
            f"{(run.get('fingerprint') or {}).get('reward', {}).get('kind')}; {run.get('steps', len(metrics))} steps"
            + (f", {per_step.get('total')} s per step on average (generation {per_step.get('generation')}, reward "
               f"{per_step.get('reward')}, update {per_step.get('update')})" if per_step else ""))
    return "".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1><p>{html.escape(head)}</p>",
        "<h2>Reward over steps</h2>", rewards, "<h2>Executability</h2>",
        "<p>Completions that are recipes (not penalised as a format violation), and recipes that ran and were "
        "scored.</p>", shares, "<h2>KL to the start model</h2>", kl,
        "<h2>Time per step</h2>", times, "<h2>Per step</h2>",
        _table(["step", "reward", "std", "executable", "ran", "KL", "length", "generation s", "reward s",
                "update s", "total s"], rows), "</body></html>"])
