"""Frameworks as data: the shipped files are valid and complete in en/de/fr; a broken file
is rejected at start-up with a message naming the file and the line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lti_service.assessment import frameworks
from lti_service.assessment.frameworks import FrameworkError, load_frameworks

SHIPPED = frameworks.DEFAULT_DIR
ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_mobility_framework_has_nine_areas_and_the_0_to_4_scale_with_na() -> None:
    fw = frameworks.registry()["mobility"]
    assert [a.id for a in fw.areas] == list("ABCDEFGHI")
    assert [lv.value for lv in fw.levels] == [0, 1, 2, 3, 4]
    assert fw.not_applicable is not None
    assert [lv.label.get("en") for lv in fw.levels] == [
        "Not started", "In progress / ad hoc", "Implemented", "Documented / audited",
        "Reviewed & improved"]
    assert len(fw.criteria) == len(fw.criteria_by_id) >= 36


def test_the_ict_framework_follows_the_p2v_themes() -> None:
    fw = frameworks.registry()["ict-schools"]
    assert [a.title.get("en") for a in fw.areas] == [
        "Digital resources", "Digital literacy", "New learning environments"]


@pytest.mark.parametrize("key", ["mobility", "ict-schools"])
def test_every_text_is_in_english_german_and_french(key: str) -> None:
    fw = frameworks.registry()[key]
    assert fw.languages() == {"en", "de", "fr"}
    assert fw.areas[0].title.get("de") != fw.areas[0].title.get("en")
    assert fw.title.get("fr-CA") == fw.title.get("fr")  # regional variants fall back
    assert fw.title.get("pt") == fw.title.get("en")  # unknown language: English


def test_every_mobility_criterion_maps_to_external_references() -> None:
    fw = frameworks.registry()["mobility"]
    sources = set()
    for criterion in fw.criteria:
        assert criterion.references, criterion.id
        sources |= {r.source_id for r in criterion.references}
    assert sources == {"charter", "eqs", "eqavet"}
    mentoring = fw.criteria_by_id["G1"]
    assert {(r.source_id, r.code) for r in mentoring.references} >= {("charter", "p7")}
    assert mentoring.references[0].name.get("en") == "7 Mentoring"


def _broken(tmp_path: Path, old: str, new: str, name: str = "broken.xml") -> Path:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    for extra in ("framework.xsd", "xml.xsd"):
        shutil.copy(SHIPPED / extra, folder / extra)
    text = (SHIPPED / "ict-schools.xml").read_text(encoding="utf-8")
    assert old in text
    (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def _line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(needle)


@pytest.mark.parametrize(("old", "new", "needle", "says"), [
    ('<criterion id="L2">', '<criterion id="L2">\n      <oops/>', "<oops/>",
     "does not match framework.xsd"),
    ('<level value="3">', '<level value="three">', 'value="three"',
     "does not match framework.xsd"),
    ('<criterion id="N2">', '<criterion id="N1">', '<criterion id="N1">',
     "does not match framework.xsd"),
    ('<ref source="eqavet" code="planning"/>', '<ref source="eqavet" code="plan"/>',
     'code="plan"/>', "not declared"),
    ('<level value="2">', '<level value="7">', 'value="7"', "in order"),
    ('<text xml:lang="en">Digital literacy</text>', '', "Digital literacy", None),
    ("</framework>", "</framwork>", "</framwork>", "not well-formed"),
])
def test_a_broken_file_is_rejected_with_file_and_line(
    tmp_path: Path, old: str, new: str, needle: str, says: str | None
) -> None:
    folder = _broken(tmp_path, old, new)
    path = folder / "broken.xml"
    with pytest.raises(FrameworkError) as caught:
        load_frameworks(folder)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    if says is None:  # the English text was removed: the <title> that lacks it is named
        line = _line_of(path, '<area id="L">') + 1  # its <title>
        assert "English" in message
    else:
        duplicate = 2 if needle == '<criterion id="N1">' else 1  # the second one is named
        line = _line_of(path, needle, duplicate)
        assert says in message
    assert caught.value.line == line, message


def test_two_files_with_the_same_key_are_refused(tmp_path: Path) -> None:
    folder = _broken(tmp_path, "ICT in schools", "ICT again", name="copy.xml")
    shutil.copy(SHIPPED / "ict-schools.xml", folder / "ict-schools.xml")
    with pytest.raises(FrameworkError, match="already used"):
        load_frameworks(folder)


def test_the_app_does_not_start_with_a_broken_framework(tmp_path: Path) -> None:
    folder = _broken(tmp_path, '<level value="3">', '<level value="three">')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTI_SERVICE_")}
    env.update(LTI_SERVICE_FRAMEWORKS_DIR=str(folder),
               LTI_SERVICE_INSTANCE_DIR=str(tmp_path / "instance"),
               LTI_SERVICE_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    code = "from lti_service.app import create_app; create_app(configure_logs=False)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode != 0
    line = _line_of(folder / "broken.xml", 'value="three"')
    assert re.search(rf"broken\.xml:{line}: does not match framework\.xsd", result.stderr), \
        result.stderr[-2000:]


def test_the_folder_in_the_settings_is_the_one_the_app_serves(tmp_path: Path) -> None:
    from lti_service.app import create_app
    from lti_service.config import load_settings
    from lti_service.migrate import upgrade
    from lti_service.placements import placements

    folder = _broken(tmp_path, "ICT in schools", "ICT in our schools", name="ict-schools.xml")
    settings = load_settings(instance_dir=tmp_path / "instance", secret_key="s" * 40,
                             frameworks_dir=folder)
    settings.ensure_instance_dir()
    upgrade(settings.effective_database_url)
    try:
        create_app(settings, configure_logs=False)
        assert list(frameworks.registry()) == ["ict-schools"]
        assert frameworks.registry()["ict-schools"].title.get("en") == "ICT in our schools"
        titles = [p.deep_link.title for p in placements()]
        assert "Quality Development Tool: ICT in our schools" in titles
    finally:
        frameworks.use_directory(None)
    assert "mobility" in frameworks.registry()
