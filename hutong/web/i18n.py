"""The console's languages (English and Simplified Chinese) and the viewer's time zone.

Messages are gettext catalogues (``locales/<locale>/LC_MESSAGES/console.po``, read with Babel at start-up;
English is the source language). The language comes from the ``lang`` cookie the switch sets, else from the
browser's ``Accept-Language``; the time zone from the ``tz`` cookie that ``console.js`` sets from the
browser (UTC until it has)."""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "zh-CN": "简体中文"}  # tag -> its own name, as the switch shows it
_BABEL = {"en": "en", "zh-CN": "zh_Hans_CN"}
_CATALOGUE = {"zh-CN": "zh_CN"}


@cache
def translations(lang: str) -> gettext.NullTranslations:
    folder = _CATALOGUE.get(lang)
    if folder is None:
        return gettext.NullTranslations()
    with (LOCALES / folder / "LC_MESSAGES" / "console.po").open("rb") as f:
        catalogue = read_po(f, locale=folder)
    buf = io.BytesIO()
    write_mo(buf, catalogue)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag.strip()))
    for _, tag in sorted(wanted, key=lambda w: -w[0]):
        try:
            locale = Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue
        if locale.language == "zh":
            return "zh-CN"
        if locale.language == "en":
            return "en"
    return "en"


def zone(cookie: str | None) -> ZoneInfo:
    cookie = unquote(cookie or "")  # console.js percent-encodes the "/" in "Asia/Shanghai"
    try:
        return ZoneInfo(cookie) if cookie and len(cookie) < 64 and ".." not in cookie else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Viewer:
    """How to speak to the person looking: language, time zone, and the formatters templates use."""

    lang: str
    tz: ZoneInfo

    def gettext(self, message: str) -> str:
        return translations(self.lang).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return translations(self.lang).ngettext(singular, plural, n)

    def when(self, value: datetime | str | None) -> str:
        """A moment in the viewer's time zone, with the zone named (the same instant reads the same)."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, "yyyy-MM-dd HH:mm zzz", tzinfo=self.tz, locale=_BABEL[self.lang])

    def number(self, value: float, digits: int = 0) -> str:
        return format_decimal(round(value, digits), locale=_BABEL[self.lang])
