"""Each role's desk through the test client (SPEC §14, §18): cookie forms act only with the
page's CSRF token from this origin; leaders adopt a run (an audit entry, the runs page marks
it) and queue a scenario from the form; admins add, disable, enable and reset users and read
the audit; a station's home page names it and its aid; signing out keeps the language."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from optimizer.adoption import stored_adoption
from optimizer.audit import verify
from optimizer.i18n import texts
from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from optimizer.serve.users import read_users
from tests.serve_helpers import PASSWORDS, browser, served_copy, signed_in

EN = texts("en", "serve")["desk"]
ZH = texts("zh", "serve")["desk"]


@pytest.fixture
def out(demo_run, tmp_path):
    return served_copy(demo_run, tmp_path)


def shown(page) -> str:
    """The page's HTML with its character references read."""
    return html.unescape(page.text)


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_adopt_needs_the_form_token_the_origin_and_the_leaders_role(out):
    leader = signed_in(out, "leader")
    token = csrf_of(leader.get("/"))
    path = "/runs/2026-01/copy/adopt"
    assert leader.post(path, data={}, follow_redirects=False).status_code == 403
    assert leader.post(path, data={"csrf": "guessed"}, follow_redirects=False).status_code == 403
    cross = leader.post(
        path,
        data={"csrf": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    planner = signed_in(out, "planner")
    refused = planner.post(path, data={"csrf": csrf_of(planner.get("/"))}, follow_redirects=False)
    assert refused.status_code == 403
    assert stored_adoption(default_store_url(out), "2026-01").scenario == "baseline"
    unknown = leader.post("/runs/2026-01/nothing/adopt", data={"csrf": token})
    assert unknown.status_code == 404

    done = leader.post(path, data={"csrf": token, "lang": "zh"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/?lang=zh"
    adoption = stored_adoption(default_store_url(out), "2026-01")
    assert (adoption.scenario, adoption.user) == ("copy", "leader")
    runs = leader.get("/?lang=zh").text
    marked = re.findall(r'<td>([^<]*)</td><td>[^<]*</td>\s*<td><span class="adopted">', runs)
    assert marked == ["copy"] and ZH["adopted_mark"] in runs
    assert verify(out, default_store_url(out)).problems == []


def test_comparison_page_adopts_and_frames_the_report(out):
    leader = signed_in(out, "leader")
    query = "run=2026-01/baseline&run=2026-01/copy&lang=zh"
    page = leader.get(f"/compare?{query}")
    assert page.status_code == 200 and ZH["adopt_explained"] in shown(page)
    assert (
        f'<iframe class="report" src="/compare/report?{query.replace("&", "&amp;")}"' in page.text
    )
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert 'action="/runs/2026-01/copy/adopt"' in page.text
    assert 'action="/runs/2026-01/baseline/adopt"' not in page.text  # carried out already
    report = leader.get(f"/compare/report?{query}")
    assert "frame-ancestors 'self'" in report.headers["content-security-policy"]
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    back = leader.post(
        "/runs/2026-01/copy/adopt",
        data={"csrf": csrf_of(page), "lang": "zh", "next": f"/compare?{query}"},
        follow_redirects=False,
    )
    assert back.headers["location"] == f"/compare?{query}"
    assert 'action="/runs/2026-01/copy/adopt"' not in leader.get(f"/compare?{query}").text
    for role in ("station", "planner"):
        assert signed_in(out, role).get(f"/compare?{query}").status_code == 403
        assert signed_in(out, role).get(f"/compare/report?{query}").status_code == 403


def test_scenario_form_without_data_says_why(out):
    leader = signed_in(out, "leader")
    for path in ("/scenarios/new", "/jobs"):
        answer = leader.get(path)
        assert answer.status_code == 409 and EN["no_data"] in shown(answer)


def test_scenario_form_queues_the_scenario_it_describes(out, demo_run):
    data = shutil.copytree(demo_run.parents[1] / "demo-data", out.parent / "data")
    settings = Settings(
        out=out, db=default_store_url(out), users_file=out / "users.toml", data=data
    )
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        form = client.get("/login")
        client.post(
            "/login",
            data={"username": "leader", "password": PASSWORDS["leader"], "csrf": csrf_of(form)},
        )
        page = client.get("/scenarios/new?lang=zh")
        assert page.status_code == 200 and 'name="officers.S01"' in page.text
        assert "盗窃" in page.text  # the bureau's name of the category `theft`
        token = csrf_of(page)
        good = {"csrf": token, "name": "more-s01", "month": "2026-01", "officers.S01": "10"}
        assert client.post("/scenarios/new", data={**good, "csrf": "x"}).status_code == 403
        bad = client.post(
            "/scenarios/new",
            data={**good, "name": "baseline", "officers.S02": "-150", "harm.theft": "many"},
        )
        assert bad.status_code == 422
        for problem in (
            EN["bad_name"].format(what="baseline"),
            EN["bad_officers"].format(what="S02"),
            EN["bad_harm"].format(what="theft"),
        ):
            assert problem in shown(bad)
        queued = client.post("/scenarios/new", data={**good, "lang": "zh"}, follow_redirects=False)
        assert queued.status_code == 303 and queued.headers["location"] == "/jobs?lang=zh"
        jobs = client.get("/jobs?lang=zh").text
        assert "2026-01" in jobs and "leader" in jobs
        assert any(ZH["job_states"][s] in jobs for s in ("queued", "running", "done"))


def test_admin_adds_disables_enables_and_resets_users(out):
    admin = signed_in(out, "admin")
    page = admin.get("/admin/users?lang=zh")
    assert page.status_code == 200 and ZH["add_user"] in shown(page)
    token = csrf_of(page)
    new = {"csrf": token, "username": "s2", "role": "station", "station": "S02",
           "password": "a long pass phrase"}  # fmt: skip
    assert admin.post("/admin/users", data={**new, "csrf": "x"}).status_code == 403
    for leader in (signed_in(out, "leader"),):
        assert leader.post("/admin/users", data=new).status_code == 403
    unknown = admin.post("/admin/users", data={**new, "station": "S99"})
    assert unknown.status_code == 422 and EN["unknown_station"] in shown(unknown)
    for weak in ("short", "qwertyuiop"):  # under 10 characters; on the common list
        refused = admin.post("/admin/users", data={**new, "password": weak})
        assert refused.status_code == 422 and "s2" not in read_users(out / "users.toml")
    assert admin.post("/admin/users", data=new, follow_redirects=False).status_code == 303
    assert read_users(out / "users.toml")["s2"][0].station == "S02"
    taken = admin.post("/admin/users", data=new)
    assert taken.status_code == 422 and EN["name_taken"] in shown(taken)

    station = browser(out)
    signed = station.post("/api/token", data={"username": "s2", "password": new["password"]})
    bearer = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    assert station.get("/api/runs", headers=bearer).status_code == 200
    disabled = admin.post("/admin/users/s2/disable", data={"csrf": token}, follow_redirects=False)
    assert disabled.status_code == 303
    assert station.get("/api/runs", headers=bearer).status_code == 401  # its token stops
    login = {"username": "s2", "password": new["password"]}
    assert station.post("/api/token", data=login).status_code == 401
    assert EN["disabled"] in admin.get("/admin/users").text
    assert admin.post("/admin/users/admin/disable", data={"csrf": token}).status_code == 422
    assert admin.post("/admin/users/nobody/disable", data={"csrf": token}).status_code == 404

    reset = {"csrf": token, "password": "another long phrase"}
    answer = admin.post("/admin/users/s2/password", data=reset, follow_redirects=False)
    assert answer.status_code == 303
    assert EN["disabled"] in admin.get("/admin/users").text  # a new password does not enable
    admin.post("/admin/users/s2/enable", data={"csrf": token})
    fresh = browser(out)  # a service of its own: no failed logins counted yet
    assert fresh.post("/api/token", data=login).status_code == 401  # the old one is gone
    again = fresh.post("/api/token", data={**login, "password": reset["password"]})
    assert again.status_code == 200


def test_audit_page_verified_or_the_problems(out):
    admin = signed_in(out, "admin")
    page = admin.get("/admin/audit?lang=zh")
    assert page.status_code == 200 and ZH["audit_verified"] in shown(page)
    (out / "2026-01" / "baseline" / "allocation.csv").write_text("changed\n", encoding="utf-8")
    broken = admin.get("/admin/audit").text
    assert EN["audit_broken"] in broken and "allocation.csv" in broken
    assert signed_in(out, "leader").get("/admin/audit").status_code == 403


def test_station_home_page_names_it_and_its_aid(out):
    station = signed_in(out, "station")
    home = station.get("/station?lang=zh", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/stations/S01?lang=zh"
    page = station.get("/stations/S01?lang=zh")
    assert page.status_code == 200
    assert "凉城新村派出所 (S01)" in page.text  # its name from the run's jurisdictions
    assert ZH["received_from"].format(station="S02 江湾镇派出所") in shown(page)
    assert page.text.count('class="cell"') > 10 and 'class="route"' in page.text
    assert ZH["training_title"] in shown(page) and ZH["scores_title"] in shown(page)
    lender = signed_in(out, "planner").get("/stations/S02")
    assert EN["lends_to"].format(station="S01 凉城新村派出所") in shown(lender)
    assert station.get("/stations/S02").status_code == 403
    assert signed_in(out, "planner").get("/stations/S99").status_code == 404
    assert signed_in(out, "trainer").get("/stations/S01").status_code == 403
    assert station.get("/stations/S01?month=2030-01").status_code == 404


def test_a_station_lists_only_the_plan_its_month_carries_out(out):
    station = signed_in(out, "station")
    assert "/runs/2026-01/baseline/" in station.get("/").text.replace("/api", "")
    assert "/2026-01/copy/" not in station.get("/").text
    leader = signed_in(out, "leader")
    leader.post("/runs/2026-01/copy/adopt", data={"csrf": csrf_of(leader.get("/"))})
    listed = station.get("/").text
    assert "/2026-01/copy/" in listed and "/2026-01/baseline/" not in listed
    assert EN["baseline"] not in station.get("/stations/S01").text.split("<h2>")[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_signing_out_keeps_the_language(out, lang):
    client = signed_in(out, "leader")
    page = client.get(f"/?lang={lang}")
    assert f'name="lang" value="{lang}"' in page.text
    done = client.post(
        "/logout", data={"csrf": csrf_of(page), "lang": lang}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/login?lang={lang}"
    assert client.get("/").status_code == 401


def test_forms_of_a_signed_out_browser_are_refused(out):
    client = browser(out)
    token = csrf_of(client.get("/login"))
    answer = client.post("/runs/2026-01/copy/adopt", data={"csrf": token})
    assert answer.status_code == 401
    assert client.post("/admin/users/leader/disable", data={"csrf": token}).status_code == 401
    assert Path(out / "users.toml").is_file()
