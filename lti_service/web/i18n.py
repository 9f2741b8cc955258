"""Interface language: Flask-Babel with catalogs read straight from the ``.po`` files.

The language is, in order: the user's own choice (stored, so it survives new launches),
the launch's ``launch_presentation.locale`` (the LMS's language for that user), the
browser's ``Accept-Language``, English. Only languages whose catalog is complete are
offered (tests check that every message is translated).

The catalogs are compiled in memory from ``lti_service/translations/<lang>/LC_MESSAGES/
messages.po`` once per process, so no compiled ``.mo`` file has to be kept in step with its
source; Flask-Babel's own domain would also reload the ``.mo`` on every request.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from babel import support
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request
from flask_babel import Babel, Domain, get_locale

from lti_service.models import UserPreference
from lti_service.web import context, launch_session

SUPPORTED = ("en", "de", "fr")
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français"}
CATALOGS = Path(__file__).resolve().parent.parent / "translations"


def negotiate(tag: str | None) -> str | None:
    """``de-AT`` → ``de``; None for a language the tool does not speak."""
    if not tag:
        return None
    base = tag.replace("_", "-").split("-")[0].strip().lower()
    return base if base in SUPPORTED else None


def load_catalog(language: str) -> support.Translations:
    path = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return support.Translations(fp=buffer)


class _PoDomain(Domain):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._loaded: dict[str, support.NullTranslations] = {}

    def get_translations(self) -> support.NullTranslations:
        language = str(get_locale() or "en")
        found = self._loaded.get(language)
        if found is None:
            with self._lock:
                found = self._loaded.get(language)
                if found is None:
                    found = (support.NullTranslations() if language == "en"
                             else load_catalog(language))
                    self._loaded[language] = found
        return found


class _Babel(Babel):
    def __init__(self) -> None:
        super().__init__()
        self._domain = _PoDomain()

    @property
    def domain_instance(self) -> Domain:
        return self._domain


def current_language() -> str:
    """The request's interface language (computed once per request)."""
    cached = g.get("qc_language")
    if cached:
        return str(cached)
    language = _select()
    g.qc_language = language
    return language


def _select() -> str:
    launch = launch_session.current()
    if launch is not None:
        preference = context.db().get(UserPreference, launch.user_id)
        if preference is not None and negotiate(preference.language):
            return str(negotiate(preference.language))
        chosen = negotiate(launch.locale)
        if chosen:
            return chosen
    return negotiate(request.accept_languages.best_match(SUPPORTED)) or "en"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    _Babel().init_app(app, locale_selector=current_language)

    def framework_text(text: Any) -> str:
        return str(text.get(current_language())) if text is not None else ""

    app.jinja_env.globals.update(t=framework_text, current_language=current_language,
                                 language_names=LANGUAGE_NAMES)
