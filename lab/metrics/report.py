"""The figures of lab/metrics/dora.py as a table, a terminal chart, a self-contained HTML report and Prometheus text.

Pure: each function returns text; lab/steps/metrics.py prints or writes it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

from lab.metrics.dora import Day, Figures, median, p90

COLUMNS = (
    "env",
    "deploys",
    "per day",
    "lead p50",
    "lead p90",
    "fail rate",
    "restore p50",
    "rollbacks",
    "sync p50",
    "source",
)

DEFINITIONS = """\
deploys: deploys, promotions and untrailered image changes live in the window (rollbacks are not deployments)
per day: deploys / the window in days (a window shorter than a day counts as one day)
lead p50/p90: app commit (committer date, app repo) → the deploy live in the environment; median / p90 (nearest rank)
fail rate (change failure rate): share of the deploys that a later rollback or a revert (lab or plain git revert) undid
restore p50 (time to restore): a failed deploy live → the rollback that undid it live (median)
rollbacks: rollback and revert commits in the window; a rollback undone itself withdraws its verdict
sync p50 (deployment duration): Argo CD sync start → end (status.history), only when Argo CD answers
live: git = the deploy commit's time; argocd = when the sync that ran it completed (and it is Synced and Healthy now)"""


def duration(seconds: float | None) -> str:
    """A short human duration: "42s", "4m 12s", "3h 05m", "2d 04h"; "–" for none."""
    if seconds is None or math.isnan(seconds):
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600:02d}h"


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def row(f: Figures) -> tuple[str, ...]:
    failed = f"{percent(f.change_failure_rate)}" + (f" ({len(f.failed)}/{f.deployments})" if f.deployments else "")
    return (
        f.env,
        str(f.deployments),
        f"{f.deployment_frequency_per_day:.2f}",
        duration(median(f.lead_times)),
        duration(p90(f.lead_times)),
        failed,
        duration(median(f.restore_times)),
        str(f.rollbacks),
        duration(median(f.durations)),
        f.source,
    )


def notes(f: Figures) -> list[str]:
    """What the reader should know about ENV's figures (clock skew, untrailered deploys, missing lead times)."""
    out = []
    if f.clock_skew:
        out.append(
            f"{f.env}: {f.clock_skew} app commit(s) dated after their deploy (clocks disagree): lead time counted as 0s"
        )
    if f.untrailered:
        out.append(
            f"{f.env}: {f.untrailered} deploy(s) committed without the lab's trailers (made by hand): a lead time "
            "only where the image tag is one `invoke ship` built (<sha7>-<time>)"
        )
    if f.no_lead_time:
        out.append(
            f"{f.env}: {f.no_lead_time} deploy(s) without a lead time (no app commit known, not in the app repo, or "
            "not live yet)"
        )
    return out


# Terminal chart --------------------------------------------------------------------------------------
BLOCKS = " ▁▂▃▄▅▆▇█"
CHART_DAYS = 30


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled to the largest; "·" for no value, " " for 0."""
    top = max((v for v in values if v is not None), default=0.0)
    out = []
    for v in values:
        if v is None:
            out.append("·")
        elif v <= 0 or top <= 0:
            out.append(" " if v is not None and v <= 0 else "·")
        else:
            out.append(BLOCKS[max(1, math.ceil(v / top * (len(BLOCKS) - 1)))])
    return "".join(out)


def chart(f: Figures, days: int = CHART_DAYS) -> str:
    """Deploys, failures, rollbacks and median lead time per day (the last DAYS days of the window)."""
    shown = list(f.days[-days:])
    if not any(d.deployments or d.rollbacks for d in shown):
        return f"{f.env}: no deploys or rollbacks in the window"
    span = f"{shown[0].day.isoformat()} … {shown[-1].day.isoformat()} (one column per day, UTC)"
    lead = [d.lead_time_median for d in shown]
    rows: list[tuple[str, Sequence[float | None], str]] = [
        ("deploys", [float(d.deployments) for d in shown], str(max(d.deployments for d in shown))),
        ("failed", [float(d.failed) for d in shown], str(max(d.failed for d in shown))),
        ("rollbacks", [float(d.rollbacks) for d in shown], str(max(d.rollbacks for d in shown))),
        ("lead time", lead, duration(max((v for v in lead if v is not None), default=None))),
    ]
    lines = [f"{f.env}: {span}"]
    lines += [f"  {name:<10}│{sparkline(values)}│ max {top}" for name, values, top in rows]
    return "\n".join(lines)


# HTML report -----------------------------------------------------------------------------------------
def _bars(days: Sequence[Day], width: int = 640, height: int = 120) -> str:
    """An inline SVG: deploys per day as bars (failed ones red), median lead time as dots on its own scale."""
    n = max(len(days), 1)
    step = width / n
    top = max((d.deployments for d in days), default=0) or 1
    lead_top = max((d.lead_time_median or 0.0 for d in days), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" '
        f'viewBox="0 0 {width} {height + 20}" role="img">',
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>',
    ]
    for i, d in enumerate(days):
        x = i * step + step * 0.1
        w = max(step * 0.8, 1)
        ok = d.deployments - d.failed
        h_ok, h_bad = ok / top * (height - 10), d.failed / top * (height - 10)
        title = f"{d.day.isoformat()}: {d.deployments} deploys, {d.failed} failed, {d.rollbacks} rollbacks"
        if d.lead_time_median is not None:
            title += f", lead time {duration(d.lead_time_median)}"
        parts.append(f"<g><title>{html.escape(title)}</title>")
        parts.append(f'<rect x="{x:.1f}" y="{height - h_ok:.1f}" width="{w:.1f}" height="{h_ok:.1f}" fill="#4a8"/>')
        if d.failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{height - h_ok - h_bad:.1f}" width="{w:.1f}" height="{h_bad:.1f}" fill="#d44"/>'
            )
        if d.rollbacks:
            parts.append(f'<text x="{x + w / 2:.1f}" y="{height + 14}" font-size="10" text-anchor="middle">↩</text>')
        if d.lead_time_median is not None:
            y = height - d.lead_time_median / lead_top * (height - 10)
            parts.append(f'<circle cx="{x + w / 2:.1f}" cy="{y:.1f}" r="3" fill="#36c"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def html_report(figures: Sequence[Figures], *, generated: str, notes_text: Sequence[str] = ()) -> str:
    """A self-contained HTML page (inline CSS and SVG; no script, no network)."""
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row(f)) + "</tr>" for f in figures)
    sections = []
    for f in figures:
        window = f"{f.since.isoformat()} → {f.until.isoformat()}"
        sections.append(
            f"<h2>{esc(f.env)}</h2><p>window {esc(window)}; source {esc(f.source)}</p>"
            f"{_bars(f.days[-90:])}"
            '<p class="legend"><span style="color:#4a8">■</span> deploys <span style="color:#d44">■</span> failed '
            '(later rolled back or reverted) <span style="color:#36c">●</span> median lead time ↩ rollback</p>'
        )
    notes_html = "".join(f"<li>{esc(n)}</li>" for n in notes_text)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>GitOps Lab: delivery metrics</title>'
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}pre{white-space:pre-wrap}"
        ".legend{font-size:.9em;color:#444}</style></head><body>"
        f"<h1>Delivery metrics (DORA)</h1><p>generated {esc(generated)}</p>"
        f"<table><tr>{head}</tr>{body}</table>"
        + (f"<ul>{notes_html}</ul>" if notes_html else "")
        + "".join(sections)
        + f"<h2>Definitions</h2><pre>{esc(DEFINITIONS)}</pre></body></html>\n"
    )


# Prometheus text exposition format ---------------------------------------------------------------------
def _value(v: float | None) -> str:
    """A sample value: Go's float syntax, NaN for none (the text format, prometheus/common expfmt)."""
    if v is None or math.isnan(v):
        return "NaN"
    return repr(float(v)) if not float(v).is_integer() else f"{int(v)}"


def _label(value: str) -> str:
    """A label value, escaped as the text format requires: backslash, double quote, line feed (expfmt text_create.go
    writeEscapedString)."""
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


GAUGES: tuple[tuple[str, str, Callable[[Figures], float | None]], ...] = (
    ("lab_dora_deployments", "Deploys and promotions live in the window (not rollbacks).", lambda f: f.deployments),
    (
        "lab_dora_deployment_frequency_per_day",
        "Deployments per day over the window (at least one day).",
        lambda f: f.deployment_frequency_per_day,
    ),
    (
        "lab_dora_change_failure_rate",
        "Share of the deployments later rolled back or reverted (NaN without deployments).",
        lambda f: f.change_failure_rate,
    ),
    ("lab_dora_failed_deployments", "Deployments later rolled back or reverted.", lambda f: len(f.failed)),
    ("lab_dora_rollbacks", "Rollback and revert commits in the window.", lambda f: f.rollbacks),
    ("lab_dora_window_start_seconds", "Start of the window (Unix time).", lambda f: f.since.timestamp()),
    ("lab_dora_window_end_seconds", "End of the window (Unix time).", lambda f: f.until.timestamp()),
)
SUMMARIES: tuple[tuple[str, str, tuple[float, ...], Callable[[Figures], tuple[float, ...]]], ...] = (
    (
        "lab_dora_lead_time_seconds",
        "App commit to live in the environment (median, nearest-rank p90).",
        (0.5, 0.9),
        lambda f: f.lead_times,
    ),
    (
        "lab_dora_time_to_restore_seconds",
        "A failed deployment live to the rollback that undid it live.",
        (0.5,),
        lambda f: f.restore_times,
    ),
    (
        "lab_dora_deployment_duration_seconds",
        "Argo CD sync start to end of the deployments (status.history).",
        (0.5, 0.9),
        lambda f: f.durations,
    ),
)


def _labels(f: Figures, extra: str = "") -> str:
    return f'env="{_label(f.env)}"' + (f",{extra}" if extra else "")


def _family(name: str, kind: str, help_text: str, samples: Sequence[tuple[str, str, str]]) -> list[str]:
    """HELP and TYPE, then the samples (suffix, labels, value): one family, its samples together."""
    return [
        f"# HELP {name} {help_text}",
        f"# TYPE {name} {kind}",
        *(f"{name}{suffix}{{{labels}}} {value}" for suffix, labels, value in samples),
    ]


def _summary_samples(f: Figures, quantiles: Sequence[float], values: Sequence[float]) -> list[tuple[str, str, str]]:
    samples = [
        ("", _labels(f, f'quantile="{q}"'), _value(median(values) if q == 0.5 else p90(values))) for q in quantiles
    ]
    return [*samples, ("_sum", _labels(f), _value(sum(values))), ("_count", _labels(f), _value(len(values)))]


def prometheus(figures: Sequence[Figures]) -> str:
    """The figures as `lab_dora_*` metric families with an `env` label (text format version 0.0.4: one HELP and TYPE
    line per family, before its samples; a family's samples together; summaries as quantile samples plus _sum and
    _count), for node_exporter's textfile collector or a scrape endpoint."""
    lines: list[str] = []
    for name, help_text, get in GAUGES:
        lines += _family(name, "gauge", help_text, [("", _labels(f), _value(get(f))) for f in figures])
    for name, help_text, quantiles, values in SUMMARIES:
        samples = [sample for f in figures for sample in _summary_samples(f, quantiles, values(f))]
        lines += _family(name, "summary", help_text, samples)
    info = [("", _labels(f, f'source="{_label(f.source)}"'), "1") for f in figures]
    lines += _family("lab_dora_info", "gauge", "Where the figures came from: source is git or argocd.", info)
    return "\n".join(lines) + "\n"
