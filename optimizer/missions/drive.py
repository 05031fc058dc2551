"""The drive the missions will need, held back from the LP's budgets (SPEC §16), so that the
plan's hours are hours the units can deliver.

Per station and shift, from what is known before the LP: a day's patrol officer-hours b, its
units U (listed, or b ÷ shift ÷ crew rounded up), the stops they make n = b ÷ crew ÷ 13
minutes, the area A of the cells the LP will staff (m of them: the riskiest, as many as b fills
at half the saturation dose, at most those holding `RISK_SHARE` of the shift's risk) and the
risk-weighted distance r from the station house to them. A day's drive is U trips out and back
(2r each) plus the tour between the stops, n legs of the mean distance between m points
spread over A (the Beardwood–Halton–Hammersley constant 0.7124 × √(A ÷ min(n, m))), the
distance × circuity at the mode's speed, each leg rounded up to the minute as the missions'
clock is, times `MARGIN` for the waits the revisit windows impose."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.config import MissionsConfig
from optimizer.missions.units import ShiftClock
from optimizer.missions.visits import MEAN_VISIT

RISK_SHARE = 0.9
BHH = 0.7124
MARGIN = 1.25


def drive_estimate(
    patrol: pd.DataFrame,
    cells: pd.DataFrame,
    risk: pd.DataFrame,
    houses: pd.DataFrame,
    cell_area_m2: float,
    days: int,
    clocks: dict[str, ShiftClock],
    config: MissionsConfig,
    cell_cap_hours: float,
) -> pd.DataFrame:
    """`station_id, shift, drive_hours` (officer-hours in the month) for `patrol`
    (`station_id, shift, hours, units, officers, mode`: the month's patrol officer-hours, the
    units of a day (NaN = derived), their crew and mode), the jurisdictions' `cells`
    (`cell_id, station_id, x, y`), `risk` (`cell_id, shift, risk`) and the station `houses`
    (index station_id; x, y in metres); `cell_cap_hours` is the LP's saturation dose
    (`allocation.max_hours_cell`)."""
    located = cells[["cell_id", "station_id", "x", "y"]].merge(
        risk[["cell_id", "shift", "risk"]], on="cell_id"
    )
    located = located[located["risk"] > 0].sort_values(
        ["station_id", "shift", "risk"], ascending=[True, True, False]
    )
    house = houses.loc[located["station_id"]]
    located["apart"] = np.hypot(
        located["x"].to_numpy() - house["x"].to_numpy(),
        located["y"].to_numpy() - house["y"].to_numpy(),
    )
    group = located.groupby(["station_id", "shift"], sort=False)
    share = group["risk"].cumsum() / group["risk"].transform("sum")
    # the cells the LP will staff: the riskiest, as many as the hours fill at half the cap,
    # no more than those holding RISK_SHARE of the risk
    staffed = np.ceil(
        located.merge(patrol, on=["station_id", "shift"], how="left")["hours"].fillna(0.0)
        / (cell_cap_hours / 2)
    ).to_numpy()
    rank = group.cumcount().to_numpy()
    before = (share - located["risk"] / group["risk"].transform("sum")).to_numpy()
    hot = located[(before < RISK_SHARE) & (rank < np.maximum(staffed, 1))]
    hot = hot.assign(weighted=hot["apart"] * hot["risk"])
    spread = hot.groupby(["station_id", "shift"]).agg(
        m=("cell_id", "size"), weighted=("weighted", "sum"), risk=("risk", "sum")
    )
    spread["r"] = spread["weighted"] / spread["risk"]
    out = patrol.merge(spread[["m", "r"]].reset_index(), on=["station_id", "shift"], how="left")
    length_h = out["shift"].map(lambda h: clocks[h].length_min / 60).astype(float)
    per_day = out["hours"] / days
    crew = out["officers"].astype(float)
    units = out["units"].fillna(np.ceil(per_day / length_h / crew - 1e-9))
    stops = per_day * 60 / crew / MEAN_VISIT
    m = out["m"].fillna(1.0)
    between = BHH * np.sqrt(m * cell_area_m2 / np.maximum(np.minimum(stops, m), 1.0))
    metres = units * 2 * out["r"].fillna(0.0) + stops * between
    speed = out["mode"].map(config.speed_kmh).astype(float)
    unit_hours = metres * config.circuity / 1000 / speed + stops / 120  # + ½ minute a leg
    drive = np.minimum(unit_hours * crew * MARGIN * days, out["hours"])
    return out[["station_id", "shift"]].assign(drive_hours=drive.fillna(0.0).to_numpy())
