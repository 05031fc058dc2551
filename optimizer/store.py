"""The plan store (SPEC §8): every run's tables in one SQLAlchemy database (SQLite by default,
PostgreSQL the same), one transaction per run; re-running a month and scenario replaces it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, inspect, text

STORED = {
    "scores": "scores.csv",
    "quality": "quality.csv",
    "risk": "risk.csv",
    "allocation": "allocation.csv",
    "duals": "duals.csv",
    "training": "training.csv",
}


def default_url(out: Path) -> str:
    return f"sqlite:///{Path(out).resolve() / 'plans.db'}"


def save_run(url: str, folder: Path, plan: dict) -> None:
    """Write a finished run folder's tables, keyed by plan month and scenario, atomically."""
    engine = create_engine(url)
    key = {"plan_month": plan["plan_month"], "scenario": plan["scenario"]}
    with engine.begin() as conn:
        existing = set(inspect(conn).get_table_names())
        for table in ("runs", *STORED):
            if table in existing:
                conn.execute(
                    text(
                        f"DELETE FROM {table} WHERE plan_month = :plan_month "
                        "AND scenario = :scenario"
                    ),
                    key,
                )
        runs = pd.DataFrame(
            [
                {
                    **key,
                    "month": plan["month"],
                    "objective": plan["objective"],
                    "status": plan["solver"]["status"],
                    "folder": str(folder),
                }
            ]
        )
        runs.to_sql("runs", conn, if_exists="append", index=False)
        for table, name in STORED.items():
            frame = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
            frame.assign(**key).to_sql(table, conn, if_exists="append", index=False)
    engine.dispose()


def previous_allocation(url: str, plan_month: str, scenario: str) -> pd.DataFrame | None:
    """Hours per cell and shift of the stored plan for `plan_month`, or None."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "allocation" not in inspect(conn).get_table_names():
                return None
            frame = pd.read_sql(
                text(
                    "SELECT cell_id, shift, hours FROM allocation WHERE "
                    "plan_month = :m AND scenario = :s"
                ),
                conn,
                params={"m": plan_month, "s": scenario},
            )
    finally:
        engine.dispose()
    if frame.empty:
        return None
    frame["hours"] = pd.to_numeric(frame["hours"])
    return frame
