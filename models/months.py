"""Month arithmetic on `YYYY-MM` text, the one way every module counts months (SPEC §3: month M
is the month just assessed, the plan is for M+1)."""

from __future__ import annotations

import pandas as pd

# YYYY-MM from year 1 (no look-ahead: the API's validators take no look-around)
MONTH_PATTERN = r"^(?:[1-9]\d{3}|0[1-9]\d\d|00[1-9]\d|000[1-9])-(?:0[1-9]|1[0-2])$"


def month_after(month: str, months: int = 1) -> str:
    """The month `months` after `month` (before it when negative), as `YYYY-MM`."""
    return str(pd.Period(month, "M") + months)


def next_month(month: str) -> str:
    """The plan month of an assessed month: M+1."""
    return month_after(month, 1)


def previous_month(month: str) -> str:
    """The month before `month`: M−1."""
    return month_after(month, -1)
