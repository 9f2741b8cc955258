"""CSV and PDF exports of a learner's report and of the cohort overview.

CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) are
prefixed with an apostrophe, since comments are free text. The PDF is made with fpdf2
(pure Python, no system libraries) and its core fonts, which only cover Latin-1: other
characters are transliterated or replaced, which is enough for en/de/fr; the radar chart
is the same SVG as on the page.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fpdf import FPDF

from lti_service.assessment.cohort import CohortReport
from lti_service.assessment.scoring import Report
from lti_service.models import Assessment, CriterionAnswer, Priority

Translate = Callable[[str], str]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def report_csv(report: Report, answers: Mapping[str, CriterionAnswer],
               priorities: list[Priority], previous: Mapping[str, CriterionAnswer] | None,
               language: str) -> str:
    """One row per criterion, then one per area, the overall score and the priorities."""
    fw = report.framework
    rows: list[list[Any]] = [[
        "row", "area_id", "area", "criterion_id", "criterion", "level", "level_label",
        "not_applicable", "previous_level", "want_to_learn", "can_share", "evidence",
        "comment", "score", "previous_score", "change"]]
    for area in fw.areas:
        for c in area.criteria:
            a = answers.get(c.id)
            level = a.level if a is not None else None
            label = fw.levels[level].label.get(language) if level is not None else ""
            before = previous.get(c.id) if previous is not None else None
            evidence = " | ".join(
                " ".join(p for p in (e.get("type", ""), e.get("note", ""), e.get("link", ""))
                         if p) for e in (a.evidence if a is not None else []))
            rows.append(["criterion", area.id, area.title.get(language), c.id,
                         c.statement.get(language), "" if level is None else level, label,
                         int(bool(a and a.not_applicable)),
                         "" if before is None or before.level is None else before.level,
                         int(bool(a and a.want_to_learn)), int(bool(a and a.can_share)),
                         evidence, a.comment if a is not None else "", "", "", ""])
    for ar in report.areas:
        rows.append(["area", ar.area.id, ar.area.title.get(language), "", "", "", "", "", "",
                     "", "", "", "", score(ar.score), score(ar.previous), score(ar.delta)])
    rows.append(["overall", "", "", "", "", "", "", "", "", "", "", "", "",
                 score(report.overall), score(report.previous_overall),
                 score(report.overall_delta)])
    for p in priorities:
        crit = fw.criteria_by_id.get(p.criterion_id)
        rows.append([f"priority {p.rank}", p.area_id, "", p.criterion_id,
                     crit.statement.get(language) if crit else "", "", "", "", "", "", "",
                     "", p.reason, "", "", ""])
    return _csv(rows)


def cohort_csv(report: CohortReport, language: str) -> str:
    """Aggregates only, with the same anonymity rule as the page (no names, no small
    groups): participation, area distributions, priorities."""
    fw = report.framework
    rows: list[list[Any]] = [["section", "area_id", "area", "criterion_id", "criterion",
                              "measure", "value"]]
    for state, n in report.counts.items():
        rows.append(["participation", "", "", "", "", state, n])
    rows.append(["participation", "", "", "", "", "respondents", report.respondents])
    for dist in report.areas:
        area = fw.area(dist.area_id)
        title = area.title.get(language) if area else ""
        rows.append(["area", dist.area_id, title, "", "", "respondents", dist.respondents])
        if not dist.shown:
            rows.append(["area", dist.area_id, title, "", "", "hidden_fewer_than_5", 1])
            continue
        rows.append(["area", dist.area_id, title, "", "", "mean", score(dist.mean)])
        for level, n in enumerate(dist.bands):
            rows.append(["area", dist.area_id, title, "", "", f"level_{level}", n])
    if report.priorities_shown:
        for area_id, n in report.area_priorities.items():
            area = fw.area(area_id)
            rows.append(["priorities", area_id, area.title.get(language) if area else "", "",
                         "", "learners_choosing_area", n])
        for row in report.criterion_priorities:
            crit = fw.criteria_by_id[row.criterion_id]
            for measure, value in (("chosen", row.chosen), ("first_choice", row.first_choice),
                                   ("can_share", row.can_share)):
                rows.append(["priorities", row.area_id, "", row.criterion_id,
                             crit.statement.get(language), measure, value])
    return _csv(rows)


# --------------------------------------------------------------------------- PDF
_REPLACE = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
            "\u201d": '"', "\u201e": '"', "\u2026": "...", "\u2022": "-", "\u00a0": " ",
            "\u202f": " ", "\u0153": "oe", "\u0152": "OE", "\u2192": "->", "\u2212": "-",
            "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0131": "i"}
# fpdf2 draws the chart's shapes; its accessible title and description are for the page.
_SVG_TEXT_ONLY = re.compile(r"<(title|desc)[^>]*>.*?</\1>", re.S)


def latin1(text: str) -> str:
    """Text the PDF core fonts can show: known punctuation mapped, accents kept where
    Latin-1 has them, otherwise stripped, anything else as '?'."""
    out = []
    for ch in text:
        ch = _REPLACE.get(ch, ch)
        if all(ord(c) < 256 for c in ch):
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(base or "?")
    return "".join(out)


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 8, latin1(f"{self.footer_text}   {self.page_no()}"), align="C")


def report_pdf(report: Report, assessment: Assessment, priorities: list[Priority],
               *, person: str, course: str, language: str, radar_svg: str,
               _: Translate) -> bytes:
    fw = report.framework
    pdf = _Pdf(format="A4")
    pdf.footer_text = "Quality Club"
    pdf.set_title(latin1(f"{fw.title.get(language)} - {person}"))
    pdf.set_author("Quality Club")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: int = 13) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", style="B", size=size)
        pdf.multi_cell(width, 7, latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)

    def line(text: str) -> None:
        pdf.multi_cell(width, 5.5, latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")

    heading(_("Self-assessment report") + ": " + fw.title.get(language), 16)
    line(f"{person} - {course}")
    submitted = assessment.submitted_at.strftime("%Y-%m-%d") if assessment.submitted_at else "-"
    line(_("Cycle %(n)s, submitted %(date)s") % {"n": assessment.cycle, "date": submitted})
    overall = "-" if report.overall is None else f"{report.overall:.1f}"
    line(_("Overall score: %(score)s of %(max)s") % {"score": overall, "max": fw.max_level})
    if report.overall_delta is not None:
        line(_("Change since the previous cycle: %(delta)s")
             % {"delta": f"{report.overall_delta:+.1f}"})

    try:
        chart = _SVG_TEXT_ONLY.sub("", radar_svg)
        pdf.image(io.BytesIO(chart.encode("utf-8")), x=pdf.l_margin + width / 2 - 40,
                  w=80)
        pdf.ln(2)
    except Exception:
        line("(" + _("chart not available") + ")")

    heading(_("Results per area"))
    with pdf.table(col_widths=(10, 60, 15, 15, 15), text_align=("LEFT", "LEFT", "RIGHT",
                   "RIGHT", "RIGHT"), line_height=5.5) as table:
        table.row([_("Area"), _("Title"), _("Score"), _("Previous"), _("Change")])
        for ar in report.areas:
            table.row([ar.area.id, latin1(ar.area.title.get(language)),
                       "-" if ar.score is None else f"{ar.score:.1f}",
                       "-" if ar.previous is None else f"{ar.previous:.1f}",
                       "-" if ar.delta is None else f"{ar.delta:+.1f}"])

    for title, items in ((_("Strongest criteria"), report.strongest),
                         (_("Weakest criteria"), report.weakest)):
        heading(title)
        for r in items:
            line(f"{r.criterion.id}  {r.level}  {r.criterion.statement.get(language)}")
    if report.changes:
        heading(_("Changed since the previous cycle"))
        for ch in report.changes:
            line(f"{ch.criterion.id}  {ch.before} -> {ch.after}  "
                 f"{ch.criterion.statement.get(language)}")
    if priorities:
        heading(_("Your peer-learning priorities"))
        for p in priorities:
            crit = fw.criteria_by_id.get(p.criterion_id)
            line(f"{p.rank}. {p.criterion_id} {crit.statement.get(language) if crit else ''}")
            line(f"    {p.reason}")
    return bytes(pdf.output())


def filename(*parts: str) -> str:
    safe = "-".join(p for p in parts if p)
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in safe)

