"""The forecast as a harm campaign can re-weight it (SPEC §10, §5): the chosen model's risk per
cell and shift with the category mix of each unit, and the pure function that applies category
multipliers to it, so a scenario that only re-weights harm keeps the baseline's model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Forecast:
    """The forecast for the month after `month`: the model `auto` chose, `risk` (`cell_id,
    shift, risk`, expected harm-weighted incidents) and the category mix of each unit's risk.

    `mix` (`cell_id, shift, category, share`) is each unit's harm by category over the last
    `mix_months` months as shares summing to 1; `default_mix` (`shift, category, share`) the
    bureau's mix per shift, for units without cases in that window. A unit's risk of category
    c is risk × share_c (`by_category`): the decomposition sums back to `risk` exactly, so a
    harm campaign re-weights the same forecast (`reweight`) instead of selecting a model
    again."""

    model: str
    risk: pd.DataFrame
    mix: pd.DataFrame
    default_mix: pd.DataFrame

    def shares(self) -> pd.DataFrame:
        """`cell_id, shift, category, share` for every unit with risk, the default mix filling
        units without a mix of their own."""
        units = self.risk[["cell_id", "shift"]]
        own = units.merge(self.mix, on=["cell_id", "shift"])
        rest = units.merge(
            self.mix[["cell_id", "shift"]].drop_duplicates(),
            how="left",
            on=["cell_id", "shift"],
            indicator=True,
        )
        rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
        return pd.concat([own, rest.merge(self.default_mix, on="shift")], ignore_index=True)

    def by_category(self) -> pd.DataFrame:
        """Risk per unit and category: `cell_id, shift, category, risk`."""
        shares = self.shares().merge(
            self.risk[["cell_id", "shift", "risk"]], on=["cell_id", "shift"]
        )
        shares["risk"] = shares.pop("share") * shares["risk"]
        return shares


def category_mix(
    cases: pd.DataFrame, cells: pd.DataFrame, month: str, mix_months: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`mix`, `default_mix`) of `Forecast`: patrol-sensitive harm by category over the
    `mix_months` months up to `month` (`[forecast] mix_months`), per unit of `cells` and per
    shift."""
    first = str(pd.Period(month, "M") - (mix_months - 1))
    keep = (
        cases["patrol_sensitive"].fillna(False).astype(bool)
        & (cases["month"] >= first)
        & (cases["month"] <= month)
        & cases["cell_id"].isin(cells["cell_id"])
    )
    window = cases.loc[keep, ["cell_id", "shift", "category", "harm"]]  # not every column
    columns = ["shift", "category", "share"]
    harm = window.groupby(["cell_id", "shift", "category"], as_index=False, sort=True)["harm"].sum()
    harm = harm[harm["harm"] > 0]
    harm["share"] = harm["harm"] / harm.groupby(["cell_id", "shift"])["harm"].transform("sum")
    default = harm.groupby(["shift", "category"], as_index=False, sort=True)["harm"].sum()
    default["share"] = default["harm"] / default.groupby("shift")["harm"].transform("sum")
    return harm[["cell_id", *columns]].reset_index(drop=True), default[columns]


def reweight(forecast: Forecast, harm: Mapping[str, float]) -> Forecast:
    """The same forecast with each category's harm multiplied by `harm[category]` (a harm
    campaign, `[deltas] harm`; others × 1): each unit's risk × Σ_c m_c·share_c, rounded like
    `risk.csv`, and its mix re-weighted accordingly; the model stays."""
    if not harm or all(m == 1 for m in harm.values()):
        return forecast

    def weighted(mix: pd.DataFrame, unit: list[str]) -> tuple[pd.DataFrame, pd.Series]:
        mix = mix.assign(share=mix["share"] * mix["category"].map(harm).fillna(1.0))
        total = mix.groupby(unit)["share"].transform("sum")
        return mix.assign(share=(mix["share"] / total).where(total > 0, 0.0)), mix.groupby(unit)[
            "share"
        ].sum()

    mix, own = weighted(forecast.mix, ["cell_id", "shift"])
    default_mix, by_shift = weighted(forecast.default_mix, ["shift"])
    risk = forecast.risk
    index = pd.MultiIndex.from_frame(risk[["cell_id", "shift"]])
    factor = pd.Series(own.reindex(index).to_numpy(), index=risk.index)
    factor = factor.fillna(risk["shift"].map(by_shift)).fillna(1.0)
    risk = risk.assign(risk=np.round(risk["risk"] * factor, 6))
    return Forecast(forecast.model, risk, mix, default_mix)
