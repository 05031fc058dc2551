"""The service's pages through the test client (SPEC §14): the login form and its cookies
(Secure, HttpOnly, SameSite=Strict, CSRF token, same origin), the runs page, the map, report and
comparison with their Content-Security-Policy, rights per role, escaping, both languages."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from optimizer.i18n import texts
from optimizer.serve.page_kit import CSRF_COOKIE
from tests.serve_helpers import PASSWORDS, browser, served_copy, signed_in


@pytest.fixture(scope="module")
def out(demo_run, tmp_path_factory):
    out = served_copy(demo_run, tmp_path_factory.mktemp("pages"))
    plan = out / "2026-01" / "copy" / "plan.json"
    content = json.loads(plan.read_text(encoding="utf-8"))
    content["solver"]["status"] = '<img src=x onerror="alert(1)">'
    content["scenario"] = "baseline"  # two runs of one name: the comparison tells them apart
    plan.write_text(json.dumps(content), encoding="utf-8")
    return out


def cookie_header(response, name: str) -> str:
    lines = response.headers.get_list("set-cookie")
    return next(line for line in lines if line.startswith(f"{name}="))


def test_login_sets_strict_cookies_and_refuses_forged_forms(out):
    client = browser(out)
    form = client.get("/login?lang=zh")
    assert form.status_code == 200 and "登录" in form.text
    csp = form.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<style nonce="{nonce}">' in form.text and "script-src" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    csrf_cookie = cookie_header(form, CSRF_COOKIE).lower()
    assert all(flag in csrf_cookie for flag in ("httponly", "secure", "samesite=strict"))
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    good = {"username": "leader", "password": PASSWORDS["leader"], "csrf": csrf}

    forged = client.post("/login", data={**good, "csrf": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        cross = client.post("/login", data=good, headers=headers, follow_redirects=False)
        assert cross.status_code == 403 and "set-cookie" not in cross.headers, headers
    no_token = {k: v for k, v in good.items() if k != "csrf"}
    browser_like = client.post(
        "/login", data=no_token, headers={"Origin": "https://testserver"}, follow_redirects=False
    )
    assert browser_like.status_code == 403  # a browser's post needs the form's token
    script = browser(out).post("/login", data=no_token, follow_redirects=False)
    assert script.status_code == 303  # no browser: nothing another site could forge
    assert "secure" in cookie_header(script, "patrolopt_session").lower()
    wrong = client.post("/login", data={**good, "password": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong user name" in wrong.text

    done = client.post("/login", data={**good, "next": "//evil.example/x"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/?lang=en"
    session = cookie_header(done, "patrolopt_session").lower()
    assert all(flag in session for flag in ("httponly", "secure", "samesite=strict"))
    assert client.get("/").status_code == 200

    logout = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert logout.status_code == 303
    assert client.get("/").status_code == 401


def test_pages_need_a_session_and_the_role(out):
    anonymous = browser(out)
    for path in ("/", "/runs/2026-01/baseline/map", "/runs/2026-01/baseline/report",
                 "/compare?run=2026-01/baseline"):  # fmt: skip
        answer = anonymous.get(path)
        assert answer.status_code == 401 and "/login?next=" in answer.text, path
    rights = {
        "/runs/2026-01/baseline/map": {"planner", "leader"},
        "/runs/2026-01/baseline/report": {"leader"},
        "/compare?run=2026-01/baseline&run=2026-01/copy": {"leader"},
        "/": set(PASSWORDS),
    }
    for role in PASSWORDS:
        client = signed_in(out, role)
        for path, allowed in rights.items():
            assert client.get(path).status_code == (200 if role in allowed else 403), (role, path)
        assert client.get("/runs/2026-01/nothing/map").status_code in (403, 404)


def test_runs_page_escapes_data_and_links_what_the_role_reads(out):
    leader = signed_in(out, "leader").get("/")
    assert 'onerror="alert(1)"' not in leader.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in leader.text
    assert "/api/runs/2026-01/baseline/training.xlsx" in leader.text and "/map" in leader.text
    station = signed_in(out, "station").get("/?lang=zh")
    assert "/map" not in station.text and "training.xlsx" not in station.text
    assert "/api/runs/2026-01/baseline/allocation?format=csv" in station.text
    assert "派出所" in station.text


def test_plan_pages_run_only_their_own_scripts_in_a_sandbox(out):
    planner = signed_in(out, "planner")
    page = planner.get("/runs/2026-01/baseline/map")
    written = (out / "2026-01" / "baseline" / "map.html").read_text(encoding="utf-8")
    assert page.text == written
    csp = page.headers["content-security-policy"]
    scripts = re.findall(r"<script>(.*?)</script>", written, flags=re.S)
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "unsafe-inline' ;" not in csp and "script-src 'unsafe" not in csp
    assert "sandbox allow-scripts" in csp and "https://tile.openstreetmap.org" in csp
    assert "connect-src" not in csp and "default-src 'none'" in csp

    leader = signed_in(out, "leader")
    report = leader.get("/runs/2026-01/baseline/report?lang=zh")
    assert texts("zh", "report")["title"] in report.text
    assert "script-src 'none'" in report.headers["content-security-policy"]
    runs = {"run": ["2026-01/baseline", "2026-01/copy"]}
    compare = leader.get("/compare/report", params=runs)
    assert compare.status_code == 200 and "Baseline (2)" in compare.text
    assert 'onerror="alert(1)"' not in compare.text


def test_pages_take_a_bearer_token_too(out):
    client = browser(out)
    answer = client.post(
        "/api/token", data={"username": "planner", "password": PASSWORDS["planner"]}
    )
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    assert client.get("/runs/2026-01/baseline/map", headers=headers).status_code == 200
    assert client.get("/runs/2026-01/baseline/report", headers=headers).status_code == 403


def test_cookies_do_not_authorise_changes(out):
    leader = signed_in(out, "leader")
    assert leader.get("/api/runs").status_code == 200  # the cookie reads
    posted = leader.post("/api/token", data={"username": "x", "password": "y"})
    assert posted.status_code == 401
