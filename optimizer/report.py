"""Leadership report (SPEC §9): one self-contained HTML page, one column per scenario, charts as
inline SVG."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

TEXT = {
    "en": {
        "title": "patrolopt plan",
        "harm": "Forecast harm covered",
        "moved": "Hours moved",
        "hours": "Patrol hours per station",
        "duals": "Value of one more hour (harm)",
        "seats": "Training seats",
        "flags": "Flagged stations",
        "scores": "Assessment",
        "sens": "Rank sensitivity",
        "quality": "Data-quality flags",
        "policy": "Weight policy",
        "buys": "One more hour at {station} {shift} buys {value:.4g} harm units prevented",
        "balance": "Patrol balance (hours against area, cases and harm share)",
    },
    "zh": {
        "title": "patrolopt 警力部署方案",
        "harm": "预测危害覆盖率",
        "moved": "调整警时",
        "hours": "各所巡逻警时",
        "duals": "每增加一小时警力的价值",
        "seats": "培训名额",
        "flags": "重点关注派出所",
        "scores": "考核结果",
        "sens": "排名稳健性",
        "quality": "数据质量问题",
        "policy": "权重合规",
        "buys": "{station} {shift}班每增加一小时警力，可多预防 {value:.4g} 单位危害",
        "balance": "警力均衡（警时与面积、案件、危害占比）",
    },
}


def bar_chart(values: pd.Series, width: int = 420, colour: str = "#2171b5") -> str:
    """Horizontal bar chart as inline SVG."""
    if values.empty:
        return ""
    top = float(values.max()) or 1.0
    rows = []
    for i, (label, value) in enumerate(values.items()):
        w = (width - 190) * float(value) / top
        rows.append(
            f'<text x="0" y="{i * 18 + 13}" font-size="11">{html.escape(str(label))}'
            f'</text><rect x="110" y="{i * 18 + 3}" width="{w:.1f}" height="12" '
            f'fill="{colour}"/><text x="{114 + w:.1f}" y="{i * 18 + 13}" '
            f'font-size="10">{value:,.4g}</text>'
        )
    return (
        f'<svg class="chart" width="{width}" height="{len(values) * 18 + 6}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
    )


def _table(frame: pd.DataFrame, limit: int = 60) -> str:
    return frame.head(limit).to_html(
        index=False, float_format=lambda v: f"{v:,.2f}", border=0, classes="t"
    )


def _flags(scores: pd.DataFrame, quality: pd.DataFrame, last_place_months: int) -> pd.DataFrame:
    rows = []
    for r in scores.itertuples(index=False):
        if r.veto:
            rows.append((r.station_id, "red-line veto"))
        if r.last_place_streak >= last_place_months:
            rows.append((r.station_id, f"last in group {r.last_place_streak} months running"))
    for station, n in quality[quality["station_id"] != ""].groupby("station_id").size().items():
        rows.append((station, f"{n} data-quality flags"))
    return pd.DataFrame(rows, columns=["station_id", "flag"])


def render_report(run_dirs: list[Path], lang: str = "en") -> str:
    """The report for one or more finished run folders, side by side."""
    t = TEXT[lang]
    columns = []
    for run in run_dirs:
        plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
        alloc = pd.read_csv(run / "allocation.csv", keep_default_na=False)
        alloc["hours"] = pd.to_numeric(alloc["hours"])
        duals = pd.read_csv(run / "duals.csv")
        training = pd.read_csv(run / "training.csv", keep_default_na=False)
        scores = pd.read_csv(run / "scores.csv", keep_default_na=False)
        scores["veto"] = scores["veto"].astype(str).eq("True")
        quality = pd.read_csv(run / "quality.csv", keep_default_na=False, dtype=str)
        sens = pd.read_csv(run / "rank_sensitivity.csv")
        hours = alloc.groupby("station_id")["hours"].sum()
        best = duals.sort_values("dual", ascending=False).head(3)
        dual_text = "".join(
            "<li>"
            + html.escape(t["buys"].format(station=r.station_id, shift=r.shift, value=r.dual))
            + "</li>"
            for r in best.itertuples(index=False)
        )
        body = [
            f"<h2>{html.escape(plan['scenario'])} — {plan['plan_month']}</h2>",
            f"<p>{t['harm']}: <b>{plan['harm_covered_share']:.1%}</b> · {t['moved']}: "
            f"<b>{plan['hours_moved']:,.0f}</b> · objective {plan['objective']:.3f}</p>",
            f"<h3>{t['hours']}</h3>",
            bar_chart(hours),
            f"<h3>{t['duals']}</h3><ul>{dual_text}</ul>",
            bar_chart(duals.groupby("station_id")["dual"].max(), colour="#e6550d"),
            f"<h3>{t['seats']}: {int(training['seats'].sum()) if len(training) else 0}</h3>",
            _table(
                training[["station_id", "course_id", "seats", "reason"]]
                if len(training)
                else training
            ),
            f"<h3>{t['flags']}</h3>",
            _table(_flags(scores, quality, plan["parameters"]["scoring"]["last_place_months"])),
            f"<h3>{t['scores']}</h3>",
            _table(
                scores[
                    [
                        "station_id",
                        "station_type",
                        "total_with_bonus",
                        "grade",
                        "rank",
                        "veto",
                        "last_place_streak",
                    ]
                ]
            ),
            f"<h3>{t['sens']}</h3>",
            _table(sens),
            f"<h3>{t['quality']}</h3>",
            _table(quality.groupby("check").size().rename("count").reset_index()),
        ]
        if (run / "patrol_balance.csv").exists():
            body += [f"<h3>{t['balance']}</h3>", _table(pd.read_csv(run / "patrol_balance.csv"))]
        if (run / "policy.csv").exists():
            body += [f"<h3>{t['policy']}</h3>", _table(pd.read_csv(run / "policy.csv"))]
        columns.append(f'<section class="scenario">{"".join(body)}</section>')
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{t['title']}</title><style>body{{font:13px sans-serif;margin:16px}}"
        ".grid{display:flex;gap:24px;align-items:flex-start}.scenario{flex:1;min-width:420px}"
        "table.t{border-collapse:collapse}table.t td,table.t th{padding:2px 6px;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        f'<h1>{t["title"]}</h1><div class="grid">{"".join(columns)}</div></body></html>'
    )
