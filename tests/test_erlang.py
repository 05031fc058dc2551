"""Erlang C and the response reserve against values worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models.erlang import erlang_c, response_reserve, units_needed, wait_probability


def test_single_unit_waits_with_the_utilisation():
    # M/M/1: a call waits whenever the unit is busy, P(wait) = ρ
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert erlang_c(1, 1.0) == 1.0 and erlang_c(3, 0.0) == 0.0


def test_county_hospital_emergency_room():
    # Hillier & Lieberman, Introduction to Operations Research, chapter "Queueing Theory":
    # the County Hospital emergency room, λ = 2 patients/h, μ = 3 patients/h per doctor.
    # One doctor: Wq = 2/3 h; two doctors: P0 = 1/2, Lq = 1/12, Wq = 1/24 h.
    lam, mu = 2.0, 3.0
    a = lam / mu
    assert erlang_c(1, a) / (mu - lam) == pytest.approx(2 / 3)
    wq = erlang_c(2, a) / (2 * mu - lam)
    assert wq == pytest.approx(1 / 24)
    assert lam * wq == pytest.approx(1 / 12)
    assert erlang_c(2, a) == pytest.approx(1 / 6)  # P0 = 1/2 ⇒ C = (a²/2)·P0/(1 − a/2) = 1/6


def test_three_servers_two_erlangs_by_hand():
    # B(3, 2) = (8/6) / (1 + 2 + 2 + 8/6) = 4/19, C = B / (1 − (2/3)(1 − B)) = 4/9
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)


def test_waiting_longer_than_t_decays_with_the_spare_capacity():
    # M/M/1, λ = 2/h, μ = 3/h (busy 20 min): P(W > 30 min) = ρ·e^{−(μ − λ)·0.5 h}
    assert wait_probability(1, 2 / 3, 20, 30) == pytest.approx(2 / 3 * math.exp(-0.5))
    # by hand (B1 = 0.4, B2 = 0.117647, B3 = 0.025478, C(3, 2/3) = 0.032520):
    # m = 1: 0.645, m = 2: 0.1459, m = 3: 0.0258 ⇒ three units keep P(wait ≥ 2 min) ≤ 0.1
    assert units_needed(2 / 3, 20, 2, 0.10) == 3
    assert units_needed(0.0, 20, 2, 0.10) == 0


def test_reserve_of_a_station_shift():
    # 736 day calls over Oct–Dec 2025 (92 days × 8 h): λ = 1/h; busy 45 min (default) ⇒
    # a = 0.75. m = 2: C = 0.204545, × e^{−1.25·2/45} = 0.1935 > 0.1; m = 3: C = 0.044118,
    # × e^{−2.25·2/45} = 0.0399 ⇒ 3 units × 8 h × 31 days (Jan 2026) × 2 officers = 1,488 h.
    times = pd.date_range("2025-10-01 09:00", "2025-12-31 09:00", periods=736)
    calls = pd.DataFrame(
        {"station_id": "S1", "shift": "day", "received_at": times, "busy_min": float("nan")}
    )
    old = calls.assign(received_at=calls["received_at"] - pd.Timedelta(days=200))
    shifts = {"day": (8, 16), "evening": (16, 24), "night": (0, 8)}
    reserve = response_reserve(
        pd.concat([old, calls]), "2025-12", shifts, pd.Series({"S1": 2.0}), 45.0, 2.0, 0.10
    )
    row = reserve.iloc[0]
    assert (row["calls"], row["units"]) == (736, 3)
    assert row["calls_per_hour"] == pytest.approx(1.0)
    assert row["reserve_hours"] == pytest.approx(1488.0)
    measured_busy = calls.assign(busy_min=15.0)  # a = 0.25: two units suffice
    reserve = response_reserve(measured_busy, "2025-12", shifts, pd.Series(), 45.0, 2.0, 0.10)
    assert reserve.iloc[0]["mean_busy_min"] == 15.0 and reserve.iloc[0]["officers_per_unit"] == 1
    assert response_reserve(calls.iloc[0:0], "2025-12", shifts, pd.Series(), 45, 2, 0.1).empty
