"""Internationalisation: every interface string is translated into German and French; the
language comes from the launch's launch_presentation.locale and the user can override it
(the choice is kept across launches); framework texts follow the same language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lti_service.web.i18n import CATALOGS, SUPPORTED, load_catalog
from tests.assessment.qdt_client import launch, unique
from tests.conftest import DemoLms, IndependentPlatform, ToolServer

ROOT = Path(__file__).resolve().parent.parent.parent
PRESENTATION = "https://purl.imsglobal.org/spec/lti/claim/launch_presentation"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _source_messages() -> set[str]:
    method_map = [("lti_service/**.py", "python"), ("templates/**.html", "jinja2")]
    found: set[str] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
            str(ROOT), method_map, keywords={"_": None, "gettext": None, "N_": None,
                                             "ngettext": (1, 2), "lazy_gettext": None,
                                             "LaunchError": (2,)}):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED if lang != "en"])
def test_every_interface_string_is_translated(language: str) -> None:
    with (CATALOGS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    translated = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalog if m.id}
    source = _source_messages()
    assert len(source) > 150
    missing = sorted(source - set(translated))
    assert missing == [], f"untranslated in {language}: {missing[:10]}"
    for msgid in source:
        message = translated[msgid]
        assert not message.fuzzy, msgid
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert string.strip(), msgid
            assert sorted(PLACEHOLDER.findall(string)) == sorted(PLACEHOLDER.findall(
                msgid)), msgid
    assert load_catalog(language).gettext("Save") != "Save"


def _presentation(locale: str) -> dict[str, object]:
    return {PRESENTATION: {"document_target": "iframe", "locale": locale}}


def test_the_launch_locale_chooses_the_language(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    german = launch(tool, test_platform, set=_presentation("de-DE"))
    assert '<html lang="de">' in german.page.text
    assert "Bewertung beginnen" in german.page.text  # "Start the assessment"
    assert "Qualität in der Lernmobilität" in german.page.text  # framework title
    aid = german.start()
    page = german.get(f"/assessment/{aid}/area/A").text
    assert "Strategie und Management" in page
    assert "Gängige Praxis bei den meisten Mobilitäten." in page  # level descriptor
    refused = german.save(aid, "A1", 0, level=9)
    assert refused.json()["message"] == "Die Stufe muss zwischen 0 und 4 liegen."

    french = launch(tool, test_platform, set=_presentation("fr_CA"))
    assert '<html lang="fr">' in french.page.text
    assert "Commencer l\u2019évaluation" in french.page.text

    unknown = launch(tool, test_platform, set=_presentation("pt-BR"))
    assert '<html lang="en">' in unknown.page.text


def test_the_users_own_choice_wins_and_is_kept_across_launches(
    tool: ToolServer, test_platform: IndependentPlatform
) -> None:
    sub, course = unique("polyglot"), unique("course")
    user = launch(tool, test_platform, sub=sub, context=course, set=_presentation("de"))
    chosen = user.post("/language", {"language": "fr", "next": f"/app/{user.lid}/qdt/mobility"})
    assert chosen.status_code == 200 and chosen.url.endswith("/qdt/mobility")
    assert '<html lang="fr">' in chosen.text
    again = launch(tool, test_platform, sub=sub, context=course, set=_presentation("de"))
    assert '<html lang="fr">' in again.page.text
    # an outside address is never a redirect target
    away = user.post("/language", {"language": "en", "next": "https://evil.example/"},
                     allow_redirects=False)
    assert away.status_code == 303 and away.headers["Location"].endswith(f"/app/{user.lid}/")


def test_the_demo_lms_locale_reaches_the_tool(demo_lms: DemoLms) -> None:
    page = demo_lms.launch("learner2", locale="fr")
    assert '<html lang="fr">' in page.text and "Bienvenue, Luca" in page.text


@pytest.mark.parametrize("locale", ["de", "fr"])
def test_every_page_renders_in_each_language(
    tool: ToolServer, test_platform: IndependentPlatform, locale: str
) -> None:
    from lti_service.assessment import frameworks

    ict = frameworks.registry()["ict-schools"]
    course = unique("lang-course")
    user = launch(tool, test_platform, context=course, framework="ict-schools",
                  set=_presentation(locale))
    aid = user.start("ict-schools")
    user.answer_all(aid, ict, {"R1": 0})
    pages = [f"/assessment/{aid}/area/R", f"/assessment/{aid}/priorities",
             f"/assessment/{aid}/review"]
    assert user.choose(aid, ("R1", "why")).status_code == 200
    assert user.submit(aid).status_code == 200
    pages += [f"/assessment/{aid}/report", f"/assessment/{aid}/report.csv",
              f"/assessment/{aid}/report.pdf", "/qdt/ict-schools", "/learner"]
    for path in pages:
        response = user.get(path)
        assert response.status_code == 200, (path, response.text[:300])
    teacher = launch(tool, test_platform, context=course, role="facilitator",
                     framework="ict-schools", set=_presentation(locale))
    assert f'<html lang="{locale}">' in teacher.page.text
    for path in ("/cohort/ict-schools", "/cohort/ict-schools.csv", "/facilitator"):
        assert teacher.get(path).status_code == 200, path
