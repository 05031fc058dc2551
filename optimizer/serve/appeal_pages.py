"""A station's pages on the assessment desk (SPEC §17): the months the assessment office closed,
per month its values as `scores.csv` holds them and its grade and rank (once the plan of the
month after is written), its appeals with their decisions and a form to appeal one value (a
reason and, optionally, a PDF or image); and a form to apply for flexible weights, with its
applications and their decisions. A station reads its own only; a refusal of the desk is
shown beside the form, which keeps what was typed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.errors import InputError
from optimizer.assessment import appeals as appeal_steps
from optimizer.assessment import desk
from optimizer.i18n import texts
from optimizer.serve.assessment_view import (
    Done,
    closed_months,
    flex_applications,
    flex_choices,
    form_lang,
    indicator_names,
    number_text,
    page_bureau,
    page_form,
    problem_lines,
    station_standing,
    station_values,
    text_field,
    typed_number,
    utc_text,
)
from optimizer.serve.deps import AssessedMonth, desk_step, service
from optimizer.serve.page_kit import Lang, PageRefused, form_user, page_lang, page_user, render

router = APIRouter(include_in_schema=False)
STATION_ROLES = {"station"}
FLEX_BYTES = 64 * 1024


def _words(lang: str):
    return texts(lang, "serve")["assessment"]


def _station_page(
    request: Request,
    lang: str,
    user,
    typed: dict | None = None,
    problems: list[str] | tuple = (),
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    """The closed months, the flexible-weight form (`typed`: indicator → weight as typed)
    and the station's applications."""
    bureau = page_bureau(request, lang, user)
    url = service(request).settings.db
    return render(
        request,
        "assessment_station.html",
        lang,
        "assessment",
        status,
        user,
        title=_words(lang)["results_title"],
        months=sorted(closed_months(url), reverse=True),
        choices=flex_choices(bureau, user.station),
        typed=typed or {},
        flex=flex_applications(url, user.station),
        indicators=indicator_names(bureau, lang),
        problems=problems,
        done=done,
        utc_text=utc_text,
    )


@router.get("/assessment/station")
def station_desk(request: Request, lang: Lang = None, done: Done = None) -> HTMLResponse:
    """The station's closed months and its flexible weights."""
    lang = page_lang(request, lang)
    return _station_page(request, lang, page_user(request, lang, STATION_ROLES), done=done)


@router.post("/assessment/station/flex")
async def flex_form(request: Request) -> Response:
    """Apply for the flexible weights typed (`indicator.N`, `weight.N`; a blank weight names
    no change), checked against §4's rules; the form again with the problems when refused."""
    fields = await page_form(request, FLEX_BYTES, 200)
    lang = form_lang(request, fields)
    user = form_user(request, lang, STATION_ROLES, text_field(fields, "csrf") or None)
    typed = {}
    for n in range(appeal_steps.MAX_FLEX_ROWS):
        indicator = text_field(fields, f"indicator.{n}")
        if not indicator:
            break
        typed[indicator] = text_field(fields, f"weight.{n}").strip()
    rows, problems = [], []
    for indicator, text in typed.items():
        weight = typed_number(text) if text else None
        if text and (weight is None or weight < 0):
            problems.append(_words(lang)["bad_weight"].format(indicator=indicator))
        elif weight is not None:
            rows.append({"indicator_id": indicator, "weight": weight})
    if not rows and not problems:
        problems.append(_words(lang)["no_weights"])
    if problems:
        return _station_page(request, lang, user, typed, problems, 422)
    try:
        await desk_step(
            request,
            appeal_steps.file_flex,
            page_bureau(request, lang, user),
            user.station,
            user.name,
            rows,
        )
    except (desk.DeskRefused, InputError) as exc:
        status = exc.status if isinstance(exc, desk.DeskRefused) else 422
        return _station_page(request, lang, user, typed, problem_lines(exc), status)
    return RedirectResponse(f"/assessment/station?lang={lang}&done=applied", status_code=303)


def _month_page(
    request: Request,
    lang: str,
    user,
    month: str,
    typed: dict | None = None,
    problems: list[str] | tuple = (),
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    """A closed month's values, standing and appeals of the station, and the appeal form
    (`typed`: indicator_id, reason as typed)."""
    bureau = page_bureau(request, lang, user)
    url = service(request).settings.db
    if month not in closed_months(url):
        raise PageRefused(404, lang, user)
    values = station_values(bureau.data, month, user.station)
    appeals = appeal_steps.appeals(url, month, user.station)
    return render(
        request,
        "assessment_results.html",
        lang,
        "assessment",
        status,
        user,
        title=_words(lang)["station_month_title"].format(month=month),
        month=month,
        values=[
            {"indicator_id": i, "value": number_text(v)}
            for i, v in zip(values["indicator_id"], values["value"], strict=True)
        ],
        standing=station_standing(request, month, user.station),
        appeals=appeals.astype(object).where(appeals.notna(), None).to_dict("records"),
        indicators=indicator_names(bureau, lang),
        typed=typed or {},
        problems=problems,
        done=done,
        number_text=number_text,
        utc_text=utc_text,
    )


@router.get("/assessment/station/{month}")
def results_page(
    request: Request, month: AssessedMonth, lang: Lang = None, done: Done = None
) -> HTMLResponse:
    """The station's results of a closed month, its appeals and the form to appeal."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, STATION_ROLES)
    return _month_page(request, lang, user, month, done=done)


@router.post("/assessment/station/{month}/appeal")
async def appeal_form(request: Request, month: AssessedMonth) -> Response:
    """File the appeal typed (indicator, reason, optional attachment) within `appeal_days`
    of the close; the page again with the desk's refusal, nothing stored."""
    fields = await page_form(request, appeal_steps.MAX_ATTACHMENT_BYTES)
    lang = form_lang(request, fields)
    user = form_user(request, lang, STATION_ROLES, text_field(fields, "csrf") or None)
    indicator, reason = text_field(fields, "indicator_id").strip(), text_field(fields, "reason")
    typed = {"indicator_id": indicator, "reason": reason}
    attachment = fields.get("attachment")
    if not isinstance(attachment, tuple) or not attachment[1]:
        attachment = None
    try:
        await desk_step(
            request,
            appeal_steps.file_appeal,
            page_bureau(request, lang, user),
            month,
            user.station,
            user.name,
            indicator,
            reason,
            attachment,
        )
    except desk.DeskRefused as exc:
        lines = problem_lines(exc)
        return _month_page(request, lang, user, month, typed, lines, exc.status)
    return RedirectResponse(
        f"/assessment/station/{month}?lang={lang}&done=appealed", status_code=303
    )
