"""Shift of a moment from the configured shift hours (a shift may wrap past midnight)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def shift_of(times: pd.Series, shift_hours: dict[str, tuple[int, int]]) -> np.ndarray:
    """Name of the shift holding each timestamp; '' where no shift covers the hour."""
    hour = times.dt.hour.to_numpy()
    out = np.full(len(hour), "", dtype=object)
    for name, (start, end) in shift_hours.items():
        inside = (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
        out[(out == "") & inside] = name
    return out
