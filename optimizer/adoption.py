"""Deciding the month (SPEC §18): a leader adopts one recorded scenario of a plan month as the
plan the bureau carries out. The adoption is an entry of the audit chain (who, when, which plan
— by its plan.json sha256), so the decision is as tamper-evident as the plans. Without an
adoption the baseline is the plan. The adopted plan is what stations see by default, what
missions are printed from, what the next month reads as its previous plan and what execution
is measured against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.errors import StoreError
from models.scenarios import BASELINE
from optimizer import audit, store
from optimizer.manifest import AUDIT_FILE

ADOPT = "adopt"  # the audit entry's action


class NotARecordedRun(ValueError):
    """The plan month and scenario asked for is no run the audit chain records."""


@dataclass(frozen=True)
class Adoption:
    """The plan a month carries out: its scenario, who adopted it and when (None, None for the
    baseline no one adopted)."""

    plan_month: str
    scenario: str
    user: str | None = None
    recorded_at: str | None = None


def adoptions(entries: list[dict]) -> dict[str, Adoption]:
    """Each plan month's latest adoption among audit `entries` (chain order)."""
    return {
        entry["plan_month"]: Adoption(
            entry["plan_month"], entry["scenario"], entry.get("user"), entry["recorded_at"]
        )
        for entry in entries
        if entry.get("action") == ADOPT
    }


def adopted_plan(entries: list[dict], plan_month: str) -> Adoption:
    """The plan `plan_month` carries out: its latest adoption, else the baseline."""
    return adoptions(entries).get(plan_month, Adoption(plan_month, BASELINE))


def logged_adoption(out: Path, plan_month: str) -> Adoption:
    """`adopted_plan` as the output folder's `audit.jsonl` records it (the desk and the sheets
    read the log; no log: the baseline)."""
    entries, _ = audit.read_log(Path(out) / AUDIT_FILE)
    return adopted_plan(entries, plan_month)


def stored_adoption(url: str, plan_month: str) -> Adoption:
    """`adopted_plan` as the store's audit chain records it (no store yet: the baseline)."""
    if not store.store_exists(url):
        return Adoption(plan_month, BASELINE)
    engine = store.open_engine(url)
    try:
        with engine.connect() as conn:
            return adopted_plan(audit.stored_entries(conn), plan_month)
    finally:
        engine.dispose()


def adopt(
    out: Path,
    url: str,
    plan_month: str,
    scenario: str,
    user: str,
    *,
    anchor: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> dict:
    """Record that `user` adopts the recorded run `plan_month`/`scenario` of output folder
    `out` (store `url`): an audit entry in the store and in `audit.jsonl`, its head anchored
    when `anchor` is given. Returns the entry. Raises `NotARecordedRun` naming the runs of that
    month that could be adopted."""
    if not store.store_exists(url):
        raise StoreError(f"{url}: holds no plans yet")
    with store.transaction(url, on_wait) as conn:
        entries = audit.stored_entries(conn)
        runs = audit.latest_entries(entries)
        run = runs.get((plan_month, scenario))
        if run is None:
            held = sorted(s for m, s in runs if m == plan_month)
            named = ", ".join(held) if held else "none"
            raise NotARecordedRun(
                f"{plan_month}/{scenario} is no recorded plan; recorded scenarios of "
                f"{plan_month}: {named}"
            )
        previous = adopted_plan(entries, plan_month).scenario
        entry = audit.record_decision(conn, run, ADOPT, user, {"replaces": previous})
    audit.append_line(out, entry)
    if anchor:
        audit.anchor_head(anchor, entry, out)
    return entry
