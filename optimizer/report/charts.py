"""The report's charts as inline SVG: horizontal bars and rank ranges. The geometry is computed
here (pixels, one decimal); the markup is `templates/charts.svg.j2`, so every label is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from markupsafe import Markup

from optimizer.report.environment import render


def number(value: float) -> str:
    """A figure for reading: whole above 100 (34,860), three significant digits below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def text_width(text: str, size: float = 11) -> float:
    """Rough width in pixels: CJK glyphs are square, Latin ones about 0.6 em."""
    return sum(size if ord(ch) > 0x2E80 else 0.6 * size for ch in text)


def bar_chart(
    frame: pd.DataFrame | pd.Series,
    colours: Sequence[str] = ("#2171b5",),
    stacked: bool = False,
    width: int = 460,
    fmt: Callable[[float], str] = number,
    negative: str | None = None,
) -> Markup:
    """Horizontal bars: a row per index label, a bar per column (side by side, or stacked) in
    `colours` (one per column), each value printed at its bar's end and in its hover title;
    negative values extend left of a zero line, in the `negative` colour when given. Several
    columns get a legend."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    if frame.empty:
        return Markup("")
    frame = frame.fillna(0.0).astype(float)
    labels = [str(i) for i in frame.index]
    series = list(frame.columns)
    ends = frame.sum(axis=1) if stacked else frame.stack()
    lo, hi = min(0.0, float(ends.min())), max(0.0, float(ends.max()))
    label_w = max(text_width(label) for label in labels) + 8
    value_w = 58
    plot_w = max(width - label_w - value_w * (2 if lo < 0 else 1), 60)
    span = (hi - lo) or 1.0
    zero = label_w + (value_w if lo < 0 else 0) + -lo / span * plot_w
    bar_h = 12 if stacked or len(series) == 1 else 8
    row_h = bar_h * (1 if stacked else len(series)) + 6
    top = 18 if len(series) > 1 else 0
    keys = []
    if len(series) > 1:
        x = 0.0
        for name, colour in zip(series, colours, strict=False):
            keys.append({"x": f"{x:.1f}", "tx": f"{x + 14:.1f}", "colour": colour, "name": name})
            x += 24 + text_width(str(name), 10)
    rows = []
    for i, (label, row) in enumerate(zip(labels, frame.itertuples(index=False), strict=True)):
        y = top + i * row_h
        bars = []
        x = zero
        for j, (name, value) in enumerate(zip(series, row, strict=True)):
            w = abs(value) / span * plot_w
            if stacked:
                left, bar_y = x, y + 3
                x += w
            else:
                left, bar_y = (zero if value >= 0 else zero - w), y + 3 + j * bar_h
            end, anchor = (left + w + 3, "start") if value >= 0 else (left - 3, "end")
            bars.append(
                {
                    "x": f"{left:.1f}",
                    "y": f"{bar_y:.1f}",
                    "w": f"{w:.1f}",
                    "h": bar_h - 1,
                    "fill": negative if negative and value < 0 else colours[j % len(colours)],
                    "title": f"{label} · {name}: {fmt(value)}",
                    "end": f"{end:.1f}",
                    "ty": f"{bar_y + bar_h - 2:.1f}",
                    "anchor": anchor,
                    "value": fmt(value),
                }
            )
        rows.append(
            {
                "label": label,
                "y": f"{y + row_h / 2 + 4:.1f}",
                "bars": bars,
                "total": {"x": f"{x + 3:.1f}", "y": f"{y + bar_h + 1:.1f}", "value": fmt(sum(row))},
            }
        )
    height = top + len(labels) * row_h + 4
    return render(
        "charts.svg.j2",
        chart="bars",
        width=width,
        height=height,
        keys=keys,
        rows=rows,
        stacked=stacked,
        zero={"x": f"{zero:.1f}", "top": top} if lo < 0 else None,
    )


def rank_chart(sensitivity: pd.DataFrame, width: int = 460) -> Markup:
    """Each station's rank (dot) and its 5–95 % range (bar) when the weights vary, in the order
    of the rows: a long bar is a rank the weights, not the work, decide."""
    if sensitivity.empty:
        return Markup("")
    frame = sensitivity
    label_w = max(text_width(str(s)) for s in frame["station_id"]) + 8
    worst = float(max(frame["rank_p95"].max(), frame["rank"].max(), 2))
    plot_w = width - label_w - 20

    def x(rank: float) -> float:
        return label_w + (rank - 1) / (worst - 1) * plot_w

    rows = []
    for i, r in enumerate(frame.itertuples(index=False)):
        left, right = x(r.rank_p05), x(r.rank_p95)
        rows.append(
            {
                "label": str(r.station_id),
                "y": i * 16,
                "left": f"{left:.1f}",
                "w": f"{max(right - left, 2):.1f}",
                "range": f"{r.rank_p05:g}–{r.rank_p95:g}",
                "dot": f"{x(r.rank):.1f}",
            }
        )
    height = len(frame) * 16 + 16
    ticks = [{"x": f"{x(k):.1f}", "k": k} for k in range(1, int(worst) + 1)]
    return render(
        "charts.svg.j2", chart="ranks", width=width, height=height, rows=rows, ticks=ticks
    )
