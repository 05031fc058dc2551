"""Data-quality audit (SPEC §3 step 2): the flags a bureau's inspectors check before trusting a
month's numbers. Output rows: `station_id, month, indicator_id, case_id, check, severity,
message`."""

from __future__ import annotations

import numpy as np
import pandas as pd

EXECUTION_METRICS = ("patrol_coverage", "response_within_target")  # from tracks and calls
QUALITY_COLUMNS = ["station_id", "month", "indicator_id", "case_id", "check", "severity", "message"]


def _rows(frame: pd.DataFrame, check: str, severity: str, message) -> pd.DataFrame:
    out = pd.DataFrame({c: frame.get(c, "") for c in QUALITY_COLUMNS[:4]}, index=frame.index)
    out["check"], out["severity"] = check, severity
    out["message"] = [message(r) for r in frame.itertuples(index=False)]
    return out.fillna("")


def report_checks(
    scores: pd.DataFrame, weights: pd.DataFrame, month: str, deadline_day: int
) -> pd.DataFrame:
    """Missing reports (a weighted indicator without a value) and late ones (after the
    deadline day of the month assessed)."""
    this = scores[scores["month"] == month]
    expected = weights[weights["weight"] > 0][["station_id", "indicator_id"]].assign(month=month)
    merged = expected.merge(this, on=["station_id", "month", "indicator_id"], how="left")
    missing = merged[merged["value"].isna()]
    out = [
        _rows(
            missing,
            "missing_report",
            "warning",
            lambda r: f"no value reported for {r.indicator_id} in {r.month}",
        )
    ]
    if "reported_at" in this.columns:
        deadline = pd.Timestamp(f"{month}-01") + pd.Timedelta(days=deadline_day)
        late = this[this["reported_at"].notna() & (this["reported_at"] >= deadline)]
        out.append(
            _rows(
                late,
                "late_report",
                "warning",
                lambda r: (
                    f"{r.indicator_id} reported on {r.reported_at:%Y-%m-%d}, "
                    f"after the {deadline_day}th"
                ),
            )
        )
    return pd.concat(out, ignore_index=True)


def jump_checks(scores: pd.DataFrame, month: str, threshold: float = 4.0) -> pd.DataFrame:
    """Robust month-on-month jumps: the change into `month` has a modified z-score above
    `threshold` against the station's own history of changes for that indicator, and strays
    further from their median than any change before it.

    The scale is MAD / 0.6745, or where over half the past changes are alike (MAD = 0) their
    mean absolute deviation × 1.2533; without past changes nothing is flagged."""
    key = ["station_id", "indicator_id"]
    frame = scores.sort_values("month")
    frame = frame.assign(change=frame.groupby(key)["value"].diff())
    past = frame[(frame["month"] < month) & frame["change"].notna()]
    changes = past.groupby(key)["change"]
    med = changes.median()
    deviation = (past["change"] - changes.transform("median")).abs().groupby([past[k] for k in key])
    mad = deviation.median()
    spread = (mad / 0.6745).where(mad > 0, 1.2533 * deviation.mean())
    now = frame[frame["month"] == month].set_index(key)
    off = now["change"] - med.reindex(now.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        now = now.assign(z=off / spread.reindex(now.index))
    unseen = off.abs() > deviation.max().reindex(now.index)
    flagged = now[(np.abs(now["z"]) > threshold) & np.isfinite(now["z"]) & unseen].reset_index()
    return _rows(
        flagged,
        "jump",
        "warning",
        lambda r: f"{r.indicator_id} changed by {r.change:+.4g} (robust z = {r.z:.1f})",
    )


def duplicate_pairs(
    offence: pd.Series,
    occurred_at: pd.Series,
    x: np.ndarray,
    y: np.ndarray,
    minutes: float = 5,
    metres: float = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions `(first, later)` of the case pairs with the same offence, within `minutes`
    and `metres` (metric x, y): `later` comes after `first` in offence-then-time order (ties in
    row order) and is reported as its duplicate. Pairs ordered by `first`, then `later`, in that
    order; cases without a time or coordinates pair with none.

    Cases fall into buckets of one offence and a square of about `metres`; each case is
    compared only with the cases of its own and the eight surrounding buckets that occurred
    within `minutes` of it (a binary search in bucket-then-time order), so the cost grows
    with the number of cases, not with how densely they crowd a day."""
    none = (np.array([], int), np.array([], int))
    t = occurred_at.to_numpy("datetime64[ns]").astype(np.int64)
    x, y = np.asarray(x, float), np.asarray(y, float)
    valid = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & ~occurred_at.isna().to_numpy())
    if len(valid) < 2:
        return none
    code = pd.factorize(offence, sort=True)[0]
    sorted_rows = np.lexsort((t, code))  # offence-then-time order, stable
    position = np.empty(len(t), np.int64)
    position[sorted_rows] = np.arange(len(t))
    t, code, position, vx, vy = t[valid], code[valid], position[valid], x[valid], y[valid]
    size = metres * 1.001  # a pair ≤ `metres` apart is never two squares apart
    ix, iy = np.floor(vx / size), np.floor(vy / size)
    ix, iy = (ix - ix.min() + 1).astype(np.int64), (iy - iy.min() + 1).astype(np.int64)
    nx, ny = int(ix.max()) + 2, int(iy.max()) + 2
    bucket = (code * nx + ix) * ny + iy
    window = int(minutes * 60) * 10**9  # nanoseconds
    seconds = (t - t.min()) // 10**9
    reach = int(minutes * 60) + 1
    span = int(seconds.max()) + 2 * reach + 2
    buckets, rank = np.unique(bucket, return_inverse=True)
    key = rank * span + seconds + reach
    # in bucket-then-time order every search below runs over sorted needles (cache-friendly)
    order = np.argsort(key, kind="stable")
    key, bucket, seconds = key[order], bucket[order], seconds[order]
    t, position, vx, vy = t[order], position[order], vx[order], vy[order]
    firsts, laters = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            target = bucket + dx * ny + dy
            at = np.minimum(np.searchsorted(buckets, target), len(buckets) - 1)
            near = np.flatnonzero(buckets[at] == target)
            base = at[near] * span + seconds[near] + reach
            lo = np.searchsorted(key, base - reach, side="left")
            hi = np.searchsorted(key, base + reach, side="right")
            count = hi - lo
            a = np.repeat(near, count)
            b = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
            keep = (
                (position[a] < position[b])
                & (t[b] - t[a] <= window)
                & ((vx[a] - vx[b]) ** 2 + (vy[a] - vy[b]) ** 2 <= metres**2)
            )
            firsts.append(position[a[keep]])
            laters.append(position[b[keep]])
    first, later = np.concatenate(firsts), np.concatenate(laters)
    order = np.lexsort((later, first))
    return sorted_rows[first[order]], sorted_rows[later[order]]


def duplicate_case_checks(
    cases: pd.DataFrame, x: np.ndarray, y: np.ndarray, minutes: float = 5, metres: float = 20
) -> pd.DataFrame:
    """Likely duplicates (`duplicate_pairs`): the later case of each pair, naming the first."""
    first, later = duplicate_pairs(cases["offence"], cases["occurred_at"], x, y, minutes, metres)
    dup = cases.iloc[later].assign(twin=cases["case_id"].to_numpy()[first])
    dup = dup.assign(station_id=dup.get("jurisdiction_id", dup.get("station_id")))
    return _rows(
        dup,
        "duplicate_case",
        "warning",
        lambda r: (
            f"likely duplicate of case {r.twin} (same offence, "
            f"≤ {minutes:g} min and ≤ {metres:g} m apart)"
        ),
    )


def station_mismatch_checks(cases: pd.DataFrame) -> pd.DataFrame:
    """Cases whose recorded `station_id` is not the jurisdiction holding the point."""
    if "station_id" not in cases.columns:
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    bad = cases[(cases["station_id"] != "") & (cases["station_id"] != cases["jurisdiction_id"])]
    return _rows(
        bad,
        "station_mismatch",
        "warning",
        lambda r: f"filed under {r.station_id} but lies in {r.jurisdiction_id}",
    )


def case_metric(cases: pd.DataFrame, metric: str) -> pd.Series:
    """Recompute a `case_metric` per (station, month) from cases: `count:<category>`,
    `solved_rate:<category>` (percent solved) or `mean_response` (minutes)."""
    keys = [cases["jurisdiction_id"], cases["month"]]
    if metric.startswith("count:"):
        return (cases["category"] == metric[6:]).groupby(keys).sum().astype(float)
    if metric.startswith("solved_rate:"):
        part = cases[cases["category"] == metric[12:]]
        solved = part["solved"].astype(float)
        return 100.0 * solved.groupby([part["jurisdiction_id"], part["month"]]).mean()
    return cases["response_minutes"].groupby(keys).mean()


def case_metric_checks(
    scores: pd.DataFrame,
    indicators: pd.DataFrame,
    cases: pd.DataFrame,
    month: str,
    measured: dict[str, pd.Series] | None = None,
    tolerance: float = 0.05,
) -> pd.DataFrame:
    """Reported values of `case_metric` indicators more than `tolerance` off the value
    recomputed from the case data, or for `patrol_coverage` and `response_within_target` the
    value `measured` from patrol tracks and dispatch records (third-party check)."""
    if "case_metric" not in indicators.columns:
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    measured = measured or {}
    out = []
    this = scores[scores["month"] == month]
    for ind, metric in indicators[["indicator_id", "case_metric"]].itertuples(index=False):
        if not metric or (
            metric != "mean_response"
            and "solved" not in cases.columns
            and metric.startswith("solved_rate")
        ):
            continue
        if metric == "mean_response" and "response_minutes" not in cases.columns:
            continue
        if metric in EXECUTION_METRICS and metric not in measured:
            continue
        source = "case data" if metric not in EXECUTION_METRICS else "execution data"
        truth = (
            measured[metric]
            if metric in EXECUTION_METRICS
            else case_metric(cases[cases["month"] == month], metric)
        )
        rows = this[this["indicator_id"] == ind].copy()
        rows["truth"] = [
            truth.get((s, month), 0.0 if metric.startswith("count") else np.nan)
            for s in rows["station_id"]
        ]
        diff = np.abs(rows["value"] - rows["truth"])
        off = diff > tolerance * np.maximum(np.abs(rows["truth"]), 1e-9)
        out.append(
            _rows(
                rows[off & rows["truth"].notna()],
                "case_metric",
                "error",
                lambda r, source=source: (
                    f"{r.indicator_id} reported {r.value:g}, {source} gives "
                    f"{r.truth:.4g} (more than {tolerance:.0%} off)"
                ),
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=QUALITY_COLUMNS)


def outside_checks(outside: pd.DataFrame) -> pd.DataFrame:
    """Cases dropped because no jurisdiction holds them."""
    return _rows(
        outside.assign(station_id=""),
        "outside_jurisdiction",
        "warning",
        lambda r: f"case at {r.lat:.6f}, {r.lon:.6f} lies outside every jurisdiction",
    )
