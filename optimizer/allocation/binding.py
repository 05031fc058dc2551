"""The rules a solved plan runs up against (SPEC §6 'binding constraints'): `binding.csv`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.allocation.frames import AllocationData

BINDING_COLUMNS = ["rule", "station_id", "shift", "value", "limit", "unit"]


def binding_rules(
    data: AllocationData, hours: np.ndarray, aid: np.ndarray, tol: float = 1e-3
) -> pd.DataFrame:
    """One row per station and shift (`shift` empty for the per-station stability cap) with
    the plan's `value` against the rule's `limit` in `unit`: `budget` (every hour spent),
    `aid_cap` (lends all it may), `home` (keeps no more at home than it must), `change_cap`
    (moves all it may) in hours; `saturation` and `floor` (cells at the dose cap or held at
    the floor) in cells, hours to 0.1 h. `hours` per unit and `aid` per arc are the LP's:
    a rule binds where the optimum runs up against it, before the plan is rounded to 0.1 h."""
    cfg = data.config
    groups, units = data.groups, data.units
    n_groups = len(groups)
    own, lent, received = data.flows(hours, aid)
    budget = data.budget
    at_cap = (hours >= cfg.max_hours_cell - tol).astype(float)
    at_floor = ((units["floor"] > 0) & (hours <= units["floor"] + tol)).astype(float)
    per_group = {
        "budget": (own + lent - received, budget, own + lent - received >= budget - tol),
        "aid_cap": (lent, cfg.max_aid_share * budget, lent >= cfg.max_aid_share * budget - tol),
        "home": (own - received, data.home_hours, own - received <= data.home_hours + tol),
        "saturation": (np.bincount(data.group, at_cap, n_groups), None, None),
        "floor": (np.bincount(data.group, at_floor, n_groups), None, None),
    }
    frames = []
    for rule, (value, limit, binds) in per_group.items():
        binds = value > 0 if binds is None else binds & (limit > 0)
        frame = groups.loc[binds, ["station_id", "shift"]].assign(
            rule=rule,
            value=value[binds],
            limit=np.nan if limit is None else limit[binds],
            unit="cells" if limit is None else "hours",
        )
        frames.append(frame)
    if data.has_previous:
        prev = units["prev_hours"].to_numpy()
        n_stations = len(data.stations)
        moved = np.bincount(data.station_of_unit, np.abs(hours - prev), n_stations)
        allowed = data.change_allowance
        binds = moved >= allowed - tol
        frames.append(
            pd.DataFrame(
                {
                    "rule": "change_cap",
                    "station_id": np.array(data.stations)[binds],
                    "shift": "",
                    "value": moved[binds],
                    "limit": allowed[binds],
                    "unit": "hours",
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)[BINDING_COLUMNS]
    return out.round({"value": 1, "limit": 1})
