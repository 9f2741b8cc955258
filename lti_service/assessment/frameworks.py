"""Frameworks as data: XML files in ``xml/frameworks/``, validated against ``framework.xsd``.

Loaded once per process (``registry()``) and at start-up, so a broken file stops the app
with a message naming the file and line instead of failing on a learner's page later. The
XSD checks structure and ids; the loader adds what XSD 1.0 cannot say (English present in
every text, each language once, levels 0..n without gaps, references that exist).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DIR = ROOT / "xml" / "frameworks"
SCHEMA_FILE = "framework.xsd"
NS = "urn:quality-club:framework:1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FALLBACK_LANGUAGE = "en"
# The directory can be pointed elsewhere (tests of start-up, an operator's own frameworks).


class FrameworkError(RuntimeError):
    """A framework file is invalid; the message starts with ``file:line:``."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line or 0}: {message}")


@dataclass(frozen=True)
class Text:
    """A translatable text: language code → text, English always present."""

    values: tuple[tuple[str, str], ...]

    def get(self, language: str | None) -> str:
        table = dict(self.values)
        if language:
            base = language.replace("_", "-").split("-")[0].lower()
            if base in table:
                return table[base]
        return table[FALLBACK_LANGUAGE]

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(lang for lang, _ in self.values)

    def __str__(self) -> str:
        return self.get(FALLBACK_LANGUAGE)


@dataclass(frozen=True)
class Level:
    value: int
    label: Text
    descriptor: Text


@dataclass(frozen=True)
class Reference:
    """An item of an external framework a criterion maps to (e.g. Charter principle 7)."""

    source_id: str
    source: Text
    code: str
    name: Text


@dataclass(frozen=True)
class Criterion:
    id: str
    area_id: str
    position: int  # order in the whole framework, for stable sorting
    statement: Text
    references: tuple[Reference, ...]
    descriptors: tuple[tuple[int, Text], ...]  # criterion-specific level descriptors

    def descriptor(self, level: Level) -> Text:
        own = dict(self.descriptors)
        return own.get(level.value, level.descriptor)


@dataclass(frozen=True)
class Area:
    id: str
    phase: str | None
    title: Text
    intro: Text | None
    references: tuple[Reference, ...]
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Framework:
    key: str
    version: int
    path: Path
    title: Text
    description: Text
    levels: tuple[Level, ...]
    not_applicable: Level | None
    areas: tuple[Area, ...]
    criteria_by_id: dict[str, Criterion] = field(compare=False, repr=False)

    @property
    def max_level(self) -> int:
        return self.levels[-1].value

    @property
    def criteria(self) -> list[Criterion]:
        return [c for a in self.areas for c in a.criteria]

    def area(self, area_id: str) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def level(self, value: int) -> Level | None:
        return self.levels[value] if 0 <= value < len(self.levels) else None

    def languages(self) -> frozenset[str]:
        """Languages every text of the framework is available in."""
        texts: list[Text] = [self.title, self.description]
        for lv in (*self.levels, *([self.not_applicable] if self.not_applicable else [])):
            texts += [lv.label, lv.descriptor]
        for area in self.areas:
            texts.append(area.title)
            for c in area.criteria:
                texts.append(c.statement)
                texts += [t for _, t in c.descriptors]
                texts += [r.name for r in c.references] + [r.source for r in c.references]
        langs = texts[0].languages
        for t in texts[1:]:
            langs &= t.languages
        return langs


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


@functools.cache
def _schema(directory: Path) -> etree.XMLSchema:
    path = directory / SCHEMA_FILE
    try:
        return etree.XMLSchema(etree.parse(str(path)))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise FrameworkError(path, getattr(exc, "lineno", None),
                             f"the framework schema cannot be read: {exc}") from exc


class _Reader:
    """Turns one validated document into a :class:`Framework`, checking the rest."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, el: etree._Element, message: str) -> FrameworkError:
        return FrameworkError(self.path, el.sourceline, message)

    def text(self, el: etree._Element) -> Text:
        values: list[tuple[str, str]] = []
        for child in el.iterchildren(_q("text")):
            lang = str(child.get(XML_LANG)).lower()
            if any(lang == seen for seen, _ in values):
                raise self.fail(child, f"language {lang!r} given twice")
            values.append((lang, " ".join((child.text or "").split())))
        if FALLBACK_LANGUAGE not in dict(values):
            raise self.fail(el, "an English (xml:lang=\"en\") text is required")
        return Text(tuple(values))

    def child_text(self, el: etree._Element, tag: str) -> Text | None:
        child = el.find(_q(tag))
        return self.text(child) if child is not None else None

    def read(self, root: etree._Element) -> Framework:
        scale = root.find(_q("scale"))
        assert scale is not None  # the schema requires it
        levels: list[Level] = []
        for i, lv in enumerate(scale.iterchildren(_q("level"))):
            value = int(lv.get("value", "-1"))
            if value != i:
                raise self.fail(lv, f"scale levels must be 0, 1, 2, … in order; found {value} "
                                    f"where {i} was expected")
            levels.append(self._level(lv, value))
        na_el = scale.find(_q("notApplicable"))
        not_applicable = self._level(na_el, -1) if na_el is not None else None

        refs: dict[tuple[str, str], Reference] = {}
        for source in root.iterfind(f"{_q('references')}/{_q('source')}"):
            source_name = self.child_text(source, "name")
            assert source_name is not None
            for item in source.iterchildren(_q("item")):
                key = (str(source.get("id")), str(item.get("code")))
                if key in refs:
                    raise self.fail(item, f"reference {key[0]}:{key[1]} is declared twice")
                item_name = self.child_text(item, "name")
                assert item_name is not None
                refs[key] = Reference(key[0], source_name, key[1], item_name)

        areas: list[Area] = []
        by_id: dict[str, Criterion] = {}
        position = 0
        for area_el in root.iterchildren(_q("area")):
            area_id = str(area_el.get("id"))
            criteria: list[Criterion] = []
            for crit_el in area_el.iterchildren(_q("criterion")):
                descriptors: list[tuple[int, Text]] = []
                for d in crit_el.iterchildren(_q("levelDescriptor")):
                    value = int(d.get("value", "-1"))
                    if value >= len(levels) or any(v == value for v, _ in descriptors):
                        raise self.fail(d, f"level descriptor {value} is not on the scale or "
                                           "is given twice")
                    descriptors.append((value, self.text(d)))
                statement = self.child_text(crit_el, "statement")
                assert statement is not None
                criterion = Criterion(
                    id=str(crit_el.get("id")), area_id=area_id, position=position,
                    statement=statement, references=self._refs(crit_el, refs),
                    descriptors=tuple(descriptors),
                )
                position += 1
                criteria.append(criterion)
                by_id[criterion.id] = criterion
            title = self.child_text(area_el, "title")
            assert title is not None
            areas.append(Area(id=area_id, phase=area_el.get("phase"), title=title,
                              intro=self.child_text(area_el, "intro"),
                              references=self._refs(area_el, refs), criteria=tuple(criteria)))
        title = self.child_text(root, "title")
        description = self.child_text(root, "description")
        assert title is not None and description is not None
        return Framework(key=str(root.get("key")), version=int(root.get("version", "1")),
                         path=self.path, title=title, description=description,
                         levels=tuple(levels), not_applicable=not_applicable,
                         areas=tuple(areas), criteria_by_id=by_id)

    def _level(self, el: etree._Element, value: int) -> Level:
        label = self.child_text(el, "label")
        descriptor = self.child_text(el, "descriptor")
        assert label is not None and descriptor is not None
        return Level(value, label, descriptor)

    def _refs(self, el: etree._Element, refs: dict[tuple[str, str], Reference]
              ) -> tuple[Reference, ...]:
        found: list[Reference] = []
        for ref in el.iterchildren(_q("ref")):
            key = (str(ref.get("source")), str(ref.get("code")))
            if key not in refs:
                raise self.fail(ref, f"reference {key[0]}:{key[1]} is not declared under "
                                     "<references>")
            found.append(refs[key])
        return tuple(found)


def load_file(path: Path, schema: etree.XMLSchema) -> Framework:
    """Parse, validate and read one framework file; any problem names file and line."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        doc = etree.parse(str(path), parser)
    except etree.XMLSyntaxError as exc:
        raise FrameworkError(path, exc.lineno, f"not well-formed XML: {exc.msg}") from exc
    except OSError as exc:
        raise FrameworkError(path, None, f"cannot be read: {exc}") from exc
    if not schema.validate(doc):
        err = schema.error_log.last_error
        raise FrameworkError(path, err.line if err else None,
                             f"does not match {SCHEMA_FILE}: {err.message if err else '?'}")
    return _Reader(path).read(doc.getroot())


def load_frameworks(directory: Path) -> dict[str, Framework]:
    """Every ``*.xml`` in ``directory``, keyed by framework key, in file-name order."""
    schema = _schema(directory)
    found: dict[str, Framework] = {}
    files = sorted(directory.glob("*.xml"))
    if not files:
        raise FrameworkError(directory, None, "no framework files (*.xml) found")
    for path in files:
        framework = load_file(path, schema)
        if framework.key in found:
            raise FrameworkError(path, 1, f"framework key {framework.key!r} is already used by "
                                          f"{found[framework.key].path.name}")
        found[framework.key] = framework
    # The mobility framework is the tool's main one: list it first where present.
    ordered = sorted(found.values(), key=lambda f: (f.key != "mobility", f.path.name))
    return {f.key: f for f in ordered}


_directory: Path | None = None


def use_directory(directory: Path | None) -> None:
    """Where this process reads its frameworks (``LTI_SERVICE_FRAMEWORKS_DIR``, set by
    ``create_app``); None: the ones shipped in ``xml/frameworks/``."""
    global _directory
    _directory = directory.resolve() if directory is not None else None


def frameworks_dir() -> Path:
    return _directory or DEFAULT_DIR


@functools.cache
def _registry(directory: Path) -> dict[str, Framework]:
    return load_frameworks(directory)


def registry() -> dict[str, Framework]:
    """The frameworks of this process, loaded and validated once."""
    return _registry(frameworks_dir())


def get(key: str) -> Framework | None:
    return registry().get(key)
