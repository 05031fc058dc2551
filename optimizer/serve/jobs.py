"""Scenario runs asked for through the service (SPEC §14): a queue worked by one thread, each job
in a worker process of its own (`optimizer.serve.worker`), so reads are served while a job runs
and at most one job runs at a time. Jobs live as long as the service."""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from models.months import previous_month
from models.scenarios import BASELINE, scenario_name

STATES = ("queued", "running", "done", "infeasible", "failed")
NO_SCENARIO = "-"  # the worker's scenario argument for the month's own run


@dataclass
class Job:
    id: str
    plan_month: str
    state: str = "queued"
    message: str = ""
    scenario: str = ""  # the folder of the plan it writes
    requested_by: str = ""

    @property
    def stem(self) -> str:
        """The stem of the job's scenario file: the scenario's name when it has no name key."""
        return f"job-{self.id[:8]}"

    def view(self) -> dict[str, str]:
        return {"id": self.id, "state": self.state, "message": self.message}


class ScenarioNameRefused(ValueError):
    """A scenario whose name the run would refuse (config's rule: a folder name, not
    `baseline`): refused when it is sent rather than queued to fail."""


def named(text: bytes, stem: str) -> tuple[str, str | None]:
    """The name the scenario file `text` (to be saved as `stem`.toml) gives its plan, and why
    the run would refuse it (located at its line), or None. A file that is not UTF-8 TOML is
    left to the run, which names the line and column."""
    try:
        decoded = text.decode("utf-8")
        name, problem = scenario_name(decoded, tomllib.loads(decoded), f"{stem}.toml")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "", None
    return (str(name) if not problem else ""), (str(problem) if problem else None)


class Jobs:
    """The jobs of this service and the thread that runs them one after another."""

    def __init__(self, data: Path, out: Path, db: str, lang: str) -> None:
        self.data, self.out, self.db, self.lang = data, out, db, lang
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, bytes | None] | None] = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._work, name="scenario-jobs", daemon=True)
        self._thread.start()

    def submit(self, plan_month: str, scenario: bytes, requested_by: str = "") -> Job:
        """Queue the scenario file `scenario`; ScenarioNameRefused for a name the run refuses."""
        job = Job(id=secrets.token_hex(16), plan_month=plan_month, requested_by=requested_by)
        job.scenario, refused = named(scenario, job.stem)
        if refused:
            raise ScenarioNameRefused(refused)
        with self._lock:
            self._jobs[job.id] = job
        self._queue.put((job, scenario))
        return job

    def submit_month(self, plan_month: str, requested_by: str = "") -> Job:
        """Queue the month's own run (no scenario): the baseline plan of `plan_month` from the
        data folder as it is now, e.g. after the assessment desk closed the month before."""
        job = Job(id=secrets.token_hex(16), plan_month=plan_month, requested_by=requested_by)
        job.scenario = BASELINE
        with self._lock:
            self._jobs[job.id] = job
        self._queue.put((job, None))
        return job

    def get(self, job_id: str) -> dict[str, str] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.view() if job else None

    def listed(self) -> list[Job]:
        """Copies of every job, the latest submitted first."""
        with self._lock:
            return [replace(job) for job in reversed(self._jobs.values())]

    def _update(self, job: Job, **fields) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(job, key, value)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job, scenario = item
            try:
                self._run(job, scenario)
            except Exception as exc:  # noqa: BLE001 - the job says why, the queue goes on
                self._update(job, state="failed", message=f"internal error: {exc}")

    def _run(self, job: Job, scenario: bytes | None) -> None:
        folder = Path(tempfile.mkdtemp(prefix="patrolopt-job-"))
        try:
            path = folder / f"{job.stem}.toml"
            if scenario is not None:
                path.write_bytes(scenario)
            self._update(job, state="running", message="loading the data")
            command = [
                sys.executable,
                "-m",
                "optimizer.serve.worker",
                str(os.getpid()),
                str(self.data),
                previous_month(job.plan_month),
                str(self.out),
                self.db,
                str(path) if scenario is not None else NO_SCENARIO,
                self.lang,
            ]
            errors_file = folder / "stderr.txt"
            outcome = None
            with (
                open(errors_file, "w", encoding="utf-8") as errors,
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True) as run,
            ):
                self._process = run
                for line in run.stdout:
                    told = json.loads(line) if line.startswith("{") else {}
                    if "progress" in told:  # the run's latest progress line
                        self._update(job, message=told["progress"])
                    elif "state" in told:
                        outcome = told
            if outcome is None:
                errors = errors_file.read_text(encoding="utf-8", errors="replace")[-2000:]
                outcome = {"state": "failed", "message": f"the run stopped: {errors}"}
            self._update(job, state=outcome["state"], message=outcome["message"])
        finally:
            self._process = None
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Stop taking jobs and end the one running (its staging folder is cleared later)."""
        self._queue.put(None)
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
