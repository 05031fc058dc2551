"""A run folder copied into the output folder by hand, never published (issue 22): `audit
verify` names it, and the desk neither lists nor serves it — only plans the audit log records
are plans."""

from __future__ import annotations

import json
import shutil

from fastapi.testclient import TestClient

from optimizer.audit import verify
from optimizer.manifest import default_store_url
from optimizer.serve.app import Settings, create_app
from tests.serve_helpers import PASSWORDS, served_copy


def test_a_run_folder_copied_in_by_hand_is_named_and_not_served(demo_run, tmp_path):
    out = served_copy(demo_run, tmp_path)
    ghost = shutil.copytree(out / "2026-01" / "baseline", out / "2026-01" / "ghost")
    allocation = ghost / "allocation.csv"
    header, first, *rest = allocation.read_text(encoding="utf-8").splitlines()
    forged = ",".join([*first.split(",")[:-1], "999"])
    allocation.write_text("\n".join([header, forged, *rest]) + "\n", encoding="utf-8")
    plan = json.loads((ghost / "plan.json").read_text(encoding="utf-8"))
    plan["solver"]["status"] = "FORGED"
    (ghost / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    shutil.copytree(ghost, out / "2026-01" / ".ghost.staging-1")  # a run being written

    found = verify(out, default_store_url(out))
    assert found.problems == [f"{ghost} is a run folder no audit entry records"]

    settings = Settings(out=out, db=default_store_url(out), users_file=out / "users.toml")
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/token", data={"username": "leader",
                                                 "password": PASSWORDS["leader"]})  # fmt: skip
        leader = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        runs = client.get("/api/runs", headers=leader).json()
        assert {(r["month"], r["scenario"]) for r in runs} == {
            ("2026-01", "baseline"),
            ("2026-01", "copy"),
        }
        served = client.get("/api/runs/2026-01/ghost/allocation", headers=leader)
        assert served.status_code == 404
        compared = client.get("/api/compare?run=2026-01/ghost", headers=leader)
        assert compared.status_code == 404
        assert client.get("/api/runs/2026-01/copy/allocation", headers=leader).status_code == 200
