"""The learner's area: home, the Quality Development Tool (questionnaire, autosave,
priorities, submit, report, exports); also the role dispatch every launch ends in.

Views parse, authorise and call :mod:`lti_service.assessment`; every assessment is loaded
through ``service.load_own`` with the launch's registration, context and user, so an id
from another user or course is a 404 and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from lti_service.assessment import exports, frameworks, scoring, service
from lti_service.assessment.charts import Series, radar_svg
from lti_service.assessment.errors import AssessmentError, Conflict, InvalidInput
from lti_service.assessment.frameworks import Framework
from lti_service.assessment.priorities import suggest
from lti_service.assessment.validation import (
    EVIDENCE_TYPES,
    MAX_COMMENT,
    MAX_EVIDENCE,
    MAX_LINK,
    MAX_NOTE,
    MAX_PRIORITIES,
    MAX_REASON,
    AnswerInput,
    parse_answer,
    parse_reason,
    parse_version,
)
from lti_service.db import utcnow
from lti_service.lti.roles import AppRole
from lti_service.models import Assessment, Context, CriterionAnswer, User, UserPreference
from lti_service.placements import framework_key_for_target
from lti_service.web import context, i18n, launch_session

bp = Blueprint("learner", __name__)
log = logging.getLogger(__name__)

HOME_ENDPOINTS = {
    AppRole.LEARNER: "learner.home",
    AppRole.FACILITATOR: "facilitator.home",
    AppRole.ADMIN: "admin.home",
}


@bp.get("/app/<lid>/")
def home_dispatch(lid: str) -> BaseResponse:
    launch = launch_session.resolve(lid)
    return redirect(url_for(HOME_ENDPOINTS[launch.app_role], lid=lid), code=303)


def load_people(launch: launch_session.LaunchContext) -> tuple[User, Context | None]:
    """The session's user and context, checked against the session's platform."""
    session = context.db()
    user = session.get(User, launch.user_id)
    if user is None or user.registration_id != launch.registration_id:
        abort(401)
    ctx = session.get(Context, launch.context_id) if launch.context_id else None
    if ctx is not None and ctx.registration_id != launch.registration_id:
        abort(403)
    return user, ctx


@bp.get("/app/<lid>/learner")
def home(lid: str) -> Response:
    launch = launch_session.resolve(lid)
    user, ctx = load_people(launch)
    states: dict[str, Assessment | None] = {}
    if ctx is not None:
        owner = service.Owner(launch.registration_id, ctx.id, user.id)
        for key in frameworks.registry():
            found = service.cycles(context.db(), owner, key)
            states[key] = found[0] if found else None
    return Response(render_template("learner/home.html", lid=lid, user=user, course=ctx,
                                    launch=launch, frameworks=frameworks.registry(),
                                    states=states))


# --------------------------------------------------------------------------- helpers
class _Learner:
    """The checked launch of a learner inside a course."""

    def __init__(self, lid: str) -> None:
        self.lid = lid
        self.launch = launch_session.resolve(lid)
        if self.launch.app_role != AppRole.LEARNER:
            abort(403, description=_("The Quality Development Tool is filled in by learners. "
                                     "Facilitators see the cohort overview."))
        self.user, ctx = load_people(self.launch)
        if ctx is None:
            abort(400, description=_("Open the tool from a course: the assessment belongs "
                                     "to a course."))
        self.course: Context = ctx
        self.owner = service.Owner(self.launch.registration_id, ctx.id, self.user.id)

    def assessment(self, assessment_id: int) -> tuple[Assessment, Framework]:
        assessment = service.load_own(context.db(), self.owner, assessment_id)
        framework = frameworks.get(assessment.framework_key)
        if framework is None:
            abort(404, description=_("This framework is no longer available."))
        return assessment, framework

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return Response(render_template(template, lid=self.lid, user=self.user,
                                        course=self.course, **values), status=status)


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@bp.errorhandler(AssessmentError)
def _assessment_error(err: AssessmentError) -> Response:
    message = _(err.message) % err.params if err.params else _(err.message)
    log.info("assessment request refused", extra={"code": err.code, "status": err.status,
                                                  "path": request.path})
    if _wants_json():
        body: dict[str, Any] = {"error": err.code, "message": message}
        if isinstance(err, InvalidInput):
            body["field"] = err.field
        if isinstance(err, Conflict):
            body["current"] = answer_json(err.current)
        response = jsonify(body)
        response.status_code = err.status
        return response
    return Response(render_template("errors/error.html", status=err.status,
                                    title=_("The change was not saved"), message=message,
                                    code=err.code), status=err.status)


def answer_json(answer: CriterionAnswer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    level: int | str | None = "na" if answer.not_applicable else answer.level
    return {"criterion": answer.criterion_id, "version": answer.version, "level": level,
            "comment": answer.comment, "evidence": list(answer.evidence),
            "want_to_learn": answer.want_to_learn, "can_share": answer.can_share,
            "updated_at": answer.updated_at.isoformat()}


# --------------------------------------------------------------------------- entry points
@bp.get("/app/<lid>/qdt")
def qdt_launch(lid: str) -> BaseResponse:
    """Where a framework placement lands: learners to their assessment, teachers to the
    cohort view of the same framework."""
    launch = launch_session.resolve(lid)
    key = framework_key_for_target(launch.target) or next(iter(frameworks.registry()))
    context.framework(key)
    if launch.app_role in (AppRole.FACILITATOR, AppRole.ADMIN):
        return redirect(url_for("facilitator.cohort", lid=lid, key=key), code=303)
    return redirect(url_for("learner.qdt_overview", lid=lid, key=key), code=303)


@bp.get("/app/<lid>/qdt/<key>")
def qdt_overview(lid: str, key: str) -> Response:
    me = _Learner(lid)
    framework = context.framework(key)
    found = service.cycles(context.db(), me.owner, key)
    current = found[0] if found else None
    missing = service.missing_items(current, framework) if current else None
    return me.render("learner/overview.html", framework=framework, current=current,
                     earlier=found[1:], missing=missing)


@bp.post("/app/<lid>/qdt/<key>/start")
def qdt_start(lid: str, key: str) -> BaseResponse:
    me = _Learner(lid)
    framework = context.framework(key)
    assessment = service.start(context.db(), me.owner, framework)
    return redirect(url_for("learner.area", lid=lid, aid=assessment.id,
                            area_id=framework.areas[0].id), code=303)


@bp.post("/app/<lid>/qdt/<key>/new-cycle")
def qdt_new_cycle(lid: str, key: str) -> BaseResponse:
    me = _Learner(lid)
    framework = context.framework(key)
    assessment = service.new_cycle(context.db(), me.owner, framework)
    return redirect(url_for("learner.area", lid=lid, aid=assessment.id,
                            area_id=framework.areas[0].id), code=303)


# --------------------------------------------------------------------------- questionnaire
def _area_page(me: _Learner, assessment: Assessment, framework: Framework, area_id: str,
               status: int = 200, conflicts: dict[str, dict[str, Any]] | None = None
               ) -> Response:
    area = framework.area(area_id)
    if area is None:
        abort(404, description=_("There is no such area in this framework."))
    index = framework.areas.index(area)
    previous = service.previous_completed(context.db(), assessment)
    return me.render(
        "learner/area.html", status=status, framework=framework, assessment=assessment,
        area=area, index=index,
        prev_area=framework.areas[index - 1] if index > 0 else None,
        next_area=framework.areas[index + 1] if index + 1 < len(framework.areas) else None,
        answers=service.answers_by_criterion(assessment),
        previous_answers=service.answers_by_criterion(previous) if previous else {},
        missing=service.missing_items(assessment, framework),
        conflicts=conflicts or {}, evidence_types=EVIDENCE_TYPES,
        limits={"comment": MAX_COMMENT, "note": MAX_NOTE, "link": MAX_LINK,
                "evidence": MAX_EVIDENCE},
    )


@bp.get("/app/<lid>/assessment/<int:aid>/area/<area_id>")
def area(lid: str, aid: int, area_id: str) -> Response:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    return _area_page(me, assessment, framework, area_id)


def _form_answer(form: Any, criterion_id: str, framework: Framework) -> dict[str, Any]:
    types = form.getlist(f"ev-{criterion_id}-type")
    notes = form.getlist(f"ev-{criterion_id}-note")
    links = form.getlist(f"ev-{criterion_id}-link")
    evidence = [{"type": t, "note": n, "link": lk} for t, n, lk in zip(types, notes, links,
                                                                       strict=False)]
    return {"level": form.get(f"level-{criterion_id}", ""),
            "comment": form.get(f"comment-{criterion_id}", ""),
            "evidence": evidence,
            "want_to_learn": form.get(f"want-{criterion_id}", ""),
            "can_share": form.get(f"share-{criterion_id}", "")}


def _unchanged(answer: CriterionAnswer | None, data: AnswerInput) -> bool:
    if answer is None:
        return (data.level is None and not data.not_applicable and not data.comment
                and not data.evidence and not data.want_to_learn and not data.can_share)
    return (answer.level == data.level and answer.not_applicable == data.not_applicable
            and answer.comment == data.comment
            and list(answer.evidence) == [e.as_dict() for e in data.evidence]
            and answer.want_to_learn == data.want_to_learn
            and answer.can_share == data.can_share)


@bp.post("/app/<lid>/assessment/<int:aid>/area/<area_id>")
def area_save(lid: str, aid: int, area_id: str) -> BaseResponse:
    """The form's own save (works without JavaScript): every criterion of the area is
    checked first, so one invalid field saves nothing; answers changed meanwhile in
    another tab are kept and shown next to the text that was not saved."""
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    area_def = framework.area(area_id)
    if area_def is None:
        abort(404, description=_("There is no such area in this framework."))
    session = context.db()
    parsed: list[tuple[str, AnswerInput, int]] = []
    for criterion in area_def.criteria:
        raw = _form_answer(request.form, criterion.id, framework)
        data = parse_answer(raw, framework)
        version = parse_version(request.form.get(f"version-{criterion.id}", "0"))
        parsed.append((criterion.id, data, version))
    answers = service.answers_by_criterion(assessment)
    conflicts: dict[str, dict[str, Any]] = {}
    for criterion_id, data, version in parsed:
        if _unchanged(answers.get(criterion_id), data):
            continue
        try:
            service.save_answer(session, assessment, framework, criterion_id, data, version)
        except Conflict:
            conflicts[criterion_id] = {"comment": data.comment,
                                       "evidence": [e.as_dict() for e in data.evidence]}
    if conflicts:
        log.info("area save with conflicts", extra={"assessment_id": aid,
                                                    "conflicts": len(conflicts)})
        session.refresh(assessment)
        return _area_page(me, assessment, framework, area_id, conflicts=conflicts)
    target = request.form.get("go", "next")
    index = framework.areas.index(area_def)
    if target == "prev" and index > 0:
        dest = url_for("learner.area", lid=lid, aid=aid, area_id=framework.areas[index - 1].id)
    elif target == "next" and index + 1 < len(framework.areas):
        dest = url_for("learner.area", lid=lid, aid=aid, area_id=framework.areas[index + 1].id)
    elif target == "stay":
        dest = url_for("learner.area", lid=lid, aid=aid, area_id=area_id)
    else:
        dest = url_for("learner.priorities", lid=lid, aid=aid)
    return redirect(dest, code=303)


@bp.post("/app/<lid>/assessment/<int:aid>/answer/<criterion_id>")
def save_answer(lid: str, aid: int, criterion_id: str) -> Response:
    """Autosave of one answer (JSON). 409 with the newer answer when the page was stale."""
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("body", "Send the answer as a JSON object.")
    data = parse_answer(body, framework)
    version = parse_version(body.get("version"))
    answer = service.save_answer(context.db(), assessment, framework, criterion_id, data,
                                 version)
    missing = service.missing_items(assessment, framework)
    return jsonify({"saved": True, "answer": answer_json(answer),
                    "unanswered": len(missing.criteria)})


@bp.get("/app/<lid>/assessment/<int:aid>/answers")
def answers(lid: str, aid: int) -> Response:
    """Every saved answer with its version (a page coming back checks what changed)."""
    me = _Learner(lid)
    assessment = me.assessment(aid)[0]
    return jsonify({"status": assessment.status,
                    "answers": [answer_json(a) for a in assessment.answers]})


# --------------------------------------------------------------------------- priorities
@bp.route("/app/<lid>/assessment/<int:aid>/priorities", methods=["GET", "POST"])
def priorities(lid: str, aid: int) -> BaseResponse:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    answers_map = service.answers_by_criterion(assessment)
    if request.method == "POST":
        picks: list[tuple[str, str]] = []
        for rank in range(1, MAX_PRIORITIES + 1):
            criterion_id = request.form.get(f"priority-{rank}", "").strip()
            if not criterion_id:
                continue
            picks.append((criterion_id, parse_reason(request.form.get(f"reason-{rank}"))))
        service.set_priorities(context.db(), assessment, framework, picks)
        return redirect(url_for("learner.review", lid=lid, aid=aid), code=303)
    return me.render("learner/priorities.html", framework=framework, assessment=assessment,
                     suggestions=suggest(framework, answers_map), answers=answers_map,
                     chosen={p.rank: p for p in assessment.priorities},
                     max_priorities=MAX_PRIORITIES, max_reason=MAX_REASON)


# --------------------------------------------------------------------------- submit
@bp.get("/app/<lid>/assessment/<int:aid>/review")
def review(lid: str, aid: int) -> Response:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    return me.render("learner/review.html", framework=framework, assessment=assessment,
                     missing=service.missing_items(assessment, framework))


@bp.post("/app/<lid>/assessment/<int:aid>/submit")
def submit(lid: str, aid: int) -> BaseResponse:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    missing = service.missing_items(assessment, framework)
    if not missing.complete:
        log.info("submit refused: incomplete", extra={"assessment_id": aid})
        return me.render("learner/review.html", status=409, framework=framework,
                         assessment=assessment, missing=missing, refused=True)
    service.submit(context.db(), assessment, framework)
    return redirect(url_for("learner.report", lid=lid, aid=aid), code=303)


@bp.post("/app/<lid>/assessment/<int:aid>/reopen")
def reopen(lid: str, aid: int) -> BaseResponse:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    service.reopen(context.db(), assessment)
    return redirect(url_for("learner.area", lid=lid, aid=aid, area_id=framework.areas[0].id),
                    code=303)


# --------------------------------------------------------------------------- report
def _report(me: _Learner, assessment: Assessment, framework: Framework
            ) -> tuple[scoring.Report, dict[str, CriterionAnswer],
                       dict[str, CriterionAnswer] | None]:
    if assessment.submitted_at is None:
        abort(409, description=_("The report is ready once the assessment is submitted."))
    previous = service.previous_completed(context.db(), assessment)
    answers_map = service.answers_by_criterion(assessment)
    before = service.answers_by_criterion(previous) if previous else None
    return scoring.compute(framework, answers_map, before), answers_map, before


def _radar(report: scoring.Report, language: str) -> str:
    series = [Series(_("This cycle"), [a.score for a in report.areas], "#0b5cad", "#0b5cad")]
    if report.has_previous:
        series.insert(0, Series(_("Previous cycle"), [a.previous for a in report.areas],
                                "#8a4b00", "#f2a900", dashed=True))
    return radar_svg(
        [a.area.id for a in report.areas], series, report.framework.max_level,
        title=_("Scores per area (0 to %(max)s)") % {"max": report.framework.max_level},
        description=_("Radar chart of the area scores; the table below lists the same "
                      "numbers."))


@bp.get("/app/<lid>/assessment/<int:aid>/report")
def report(lid: str, aid: int) -> Response:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    result, answers_map, _before = _report(me, assessment, framework)
    language = i18n.current_language()
    return me.render("learner/report.html", framework=framework, assessment=assessment,
                     report=result, answers=answers_map, radar=_radar(result, language),
                     priorities=assessment.priorities)


@bp.get("/app/<lid>/assessment/<int:aid>/report.csv")
def report_csv(lid: str, aid: int) -> Response:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    result, answers_map, before = _report(me, assessment, framework)
    body = exports.report_csv(result, answers_map, list(assessment.priorities), before,
                              i18n.current_language())
    name = exports.filename("qdt", framework.key, f"cycle{assessment.cycle}") + ".csv"
    return Response("\ufeff" + body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/app/<lid>/assessment/<int:aid>/report.pdf")
def report_pdf(lid: str, aid: int) -> Response:
    me = _Learner(lid)
    assessment, framework = me.assessment(aid)
    result, _answers, _before = _report(me, assessment, framework)
    language = i18n.current_language()
    pdf = exports.report_pdf(
        result, assessment, list(assessment.priorities), person=me.user.display_name,
        course=me.course.title or me.course.label or me.course.context_id, language=language,
        radar_svg=_radar(result, language), _=_)
    name = exports.filename("qdt", framework.key, f"cycle{assessment.cycle}") + ".pdf"
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


# --------------------------------------------------------------------------- language
@bp.post("/app/<lid>/language")
def language(lid: str) -> BaseResponse:
    """The user's own choice of interface language, kept across launches."""
    launch = launch_session.resolve(lid)
    user, _ctx = load_people(launch)
    choice = request.form.get("language", "")
    if choice and i18n.negotiate(choice) != choice:
        abort(400, description=_("This language is not available."))
    session = context.db()
    preference = session.get(UserPreference, user.id)
    if preference is None:
        preference = UserPreference(user_id=user.id)
        session.add(preference)
    preference.language = choice or None
    preference.updated_at = utcnow()
    target = request.form.get("next", "")
    if not target.startswith(f"/app/{lid}/") or "//" in target or "\\" in target:
        target = url_for("learner.home_dispatch", lid=lid)
    return redirect(target, code=303)
