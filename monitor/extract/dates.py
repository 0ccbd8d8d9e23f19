"""Dates as news sites print them -> timezone-aware datetimes.

:func:`parse_date` is public: discovery reuses it for teaser dates on listing pages. It reads
ISO 8601 ("2026-01-03T14:02:00+08:00"), RFC 2822 ("Sat, 03 Jan 2026 14:02:00 +0800"),
"13:34, 30-Dec-2025", "Updated 16:25, 03-Jan-2026", "2021/1/19 22:08:39", "January 3, 2026 2:02 PM EST",
"3. Januar 2026", "03.01.2026 14:02", "2026年1月3日 14:02", and Unix timestamps. A time without an
offset takes ``default_tz`` (UTC when none is given), so the result is always aware.
Only short strings are searched; callers hand in the text of one element or attribute.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["parse_date", "parse_offset"]

# Month names and abbreviations (lower case, no trailing dot) in the languages the sites print.
MONTHS: dict[str, int] = {}
_MONTH_NAMES: tuple[tuple[str, ...], ...] = (
    ("jan", "january", "janvier", "januar", "jänner", "enero", "gennaio", "janeiro", "januari", "janv",
     "ene", "gen", "sty", "styczeń", "stycznia", "leden", "ledna", "ocak", "январь", "января", "янв"),
    ("feb", "february", "février", "fevrier", "februar", "febrero", "febbraio", "fevereiro", "februari",
     "févr", "fev", "fév", "lut", "luty", "lutego", "únor", "února", "şubat", "февраль", "февраля", "фев"),
    ("mar", "march", "mars", "märz", "marzo", "março", "maart", "marz", "mär", "marca", "marzec",
     "březen", "března", "mart", "март", "марта"),
    ("apr", "april", "avril", "abril", "aprile", "avr", "abr", "kwi", "kwiecień", "kwietnia", "duben",
     "dubna", "nisan", "апрель", "апреля", "апр"),
    ("may", "mai", "mayo", "maggio", "maio", "mei", "mag", "maj", "maja", "květen", "května", "mayıs",
     "май", "мая"),
    ("jun", "june", "juin", "juni", "junio", "giugno", "junho", "giu", "cze", "czerwiec", "czerwca",
     "červen", "června", "haziran", "июнь", "июня", "июн"),
    ("jul", "july", "juillet", "juli", "julio", "luglio", "julho", "juil", "lug", "lip", "lipiec",
     "lipca", "červenec", "července", "temmuz", "июль", "июля", "июл"),
    ("aug", "august", "août", "aout", "agosto", "augustus", "ago", "sie", "sierpień", "sierpnia", "srpen",
     "srpna", "ağustos", "август", "августа", "авг"),
    ("sep", "sept", "september", "septembre", "septiembre", "settembre", "setembro", "set", "wrz",
     "wrzesień", "września", "září", "eylül", "сентябрь", "сентября", "сен"),
    ("oct", "october", "octobre", "oktober", "octubre", "ottobre", "outubro", "okt", "ott", "out",
     "paź", "październik", "października", "říjen", "října", "ekim", "октябрь", "октября", "окт"),
    ("nov", "november", "novembre", "noviembre", "novembro", "lis", "listopad", "listopada",
     "listopadu", "kasım", "ноябрь", "ноября", "ноя"),
    ("dec", "december", "décembre", "decembre", "dezember", "diciembre", "dicembre", "dezembro", "déc",
     "dic", "dez", "des", "gru", "grudzień", "grudnia", "prosinec", "prosince", "aralık", "декабрь",
     "декабря", "дек"),
)
for _number, _names in enumerate(_MONTH_NAMES, start=1):
    for _name in _names:
        MONTHS[_name] = _number

# Zone abbreviations sites print after a time, as fixed offsets in hours.
ZONE_ABBREVIATIONS: dict[str, float] = {
    "utc": 0, "gmt": 0, "z": 0, "wet": 0, "bst": 1, "cet": 1, "cest": 2, "met": 1, "mest": 2,
    "eet": 2, "eest": 3, "msk": 3, "ist": 5.5, "pkt": 5, "ict": 7, "wib": 7, "hkt": 8, "sgt": 8,
    "awst": 8, "bjt": 8, "pht": 8, "jst": 9, "kst": 9, "aest": 10, "aedt": 11, "nzst": 12, "nzdt": 13,
    "est": -5, "edt": -4, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7, "akst": -9,
    "akdt": -8, "hst": -10, "ast": -4, "adt": -3, "nst": -3.5, "brt": -3, "art": -3,
}

_MONTH_ALT = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
_ISO = re.compile(
    r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(Z(?![a-z])|[+-]\d{2}(?::?\d{2})?(?!\d))?", re.I)
_YMD = re.compile(r"(?<!\d)(\d{4})\s*[/.年]\s*(\d{1,2})\s*[/.月]\s*(\d{1,2})(?!\d)\s*日?")
_DMY_NUM = re.compile(r"(?<![\d.])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\d])")
_DMY_NAME = re.compile(rf"(?<![\w])(\d{{1,2}})(?:st|nd|rd|th|er|º)?\.?[\s/-]*(?:de\s+)?({_MONTH_ALT})\.?,?[\s/-]*"
                       rf"(?:de\s+)?(\d{{4}})(?!\d)", re.I)
_MDY_NAME = re.compile(rf"(?<![\w])({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)", re.I)
_TIME = re.compile(r"(?<![\d:])(\d{1,2})\s*[:h時]\s*(\d{2})(?:\s*:\s*(\d{2}))?(?!\d)(?:\s*([ap])\.?\s*m\b\.?)?",
                   re.I)
_HOUR_ONLY = re.compile(r"(?<![\d:])(\d{1,2})\s*([ap])\.?\s*m\b\.?", re.I)
_OFFSET = re.compile(r"(?:(?:GMT|UTC)\s*)?([+-−])\s*(\d{1,2})(?::?(\d{2}))?(?!\d)")
_ZONE_WORD = re.compile(r"\b(GMT|UTC)\b|\b([A-Z]{2,5})\b")
_DIGITS = re.compile(r"^\d{10}(?:\d{3})?$")
MAX_INPUT = 200


def parse_offset(text: str) -> tzinfo | None:
    """An offset such as "+08:00", "+0800", "GMT+8" or "EST" as a tzinfo; an IANA name works too."""
    text = text.strip()
    if not text:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    m = _OFFSET.fullmatch(text)
    if m:
        return _fixed(m.group(1), m.group(2), m.group(3))
    hours = ZONE_ABBREVIATIONS.get(text.lower())
    if hours is not None:
        return timezone(timedelta(hours=hours))
    if "/" in text:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


def _fixed(sign: str, hours: str, minutes: str | None) -> tzinfo | None:
    h, m = int(hours), int(minutes or 0)
    if h > 14 or m > 59:
        return None
    delta = timedelta(hours=h, minutes=m)
    return timezone(-delta if sign in "-−" else delta)


def parse_date(text: str | None, default_tz: tzinfo | None = None) -> datetime | None:
    """Read the first date (and the time and zone next to it) in ``text``; None when there is none."""
    if not text:
        return None
    text = " ".join(text.split())[:MAX_INPUT]
    if _DIGITS.match(text):
        return _from_timestamp(text)
    m = _ISO.search(text)
    if m:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(4):
            hour, minute, second = int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)
            tz = parse_offset(m.group(7)) if m.group(7) else _zone_after(text[m.end():])
            return _build(year, month, day, hour, minute, second, tz or default_tz)
        rest = text[:m.start()] + " " + text[m.end():]
        return _with_time(year, month, day, rest, default_tz)
    found = _find_day(text)
    if found is None:
        return None
    (year, month, day), start, end = found
    rest = text[:start] + " " + text[end:]
    return _with_time(year, month, day, rest, default_tz)


def _find_day(text: str) -> tuple[tuple[int, int, int], int, int] | None:
    m = _YMD.search(text)
    if m:
        return (int(m.group(1)), int(m.group(2)), int(m.group(3))), m.start(), m.end()
    m = _DMY_NAME.search(text)
    if m:
        return (int(m.group(3)), MONTHS[m.group(2).lower()], int(m.group(1))), m.start(), m.end()
    m = _MDY_NAME.search(text)
    if m:
        return (int(m.group(3)), MONTHS[m.group(1).lower()], int(m.group(2))), m.start(), m.end()
    m = _DMY_NUM.search(text)
    if m:
        first, second, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        if year < 100:
            year += 2000
        # dots and dashes are day-first; slashes are month-first unless that cannot be
        if m.group(2) == "/" and second <= 12 < first:
            day, month = first, second
        elif m.group(2) == "/" and first <= 12:
            month, day = first, second
        else:
            day, month = first, second
        return (year, month, day), m.start(), m.end()
    return None


def _with_time(year: int, month: int, day: int, rest: str, default_tz: tzinfo | None) -> datetime | None:
    hour = minute = second = 0
    tz: tzinfo | None = None
    m = _TIME.search(rest)
    if m:
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        hour = _meridiem(hour, m.group(4))
        tz = _zone_after(rest[m.end():])
    else:
        h = _HOUR_ONLY.search(rest)
        if h:
            hour = _meridiem(int(h.group(1)), h.group(2))
            tz = _zone_after(rest[h.end():])
    return _build(year, month, day, hour, minute, second, tz or default_tz)


def _meridiem(hour: int, marker: str | None) -> int:
    if not marker:
        return hour
    if marker.lower() == "p" and hour < 12:
        return hour + 12
    if marker.lower() == "a" and hour == 12:
        return 0
    return hour


def _zone_after(rest: str) -> tzinfo | None:
    """The zone printed right after a time: "+08:00", "GMT+8", "UTC", "EST", "(Beijing time)"."""
    head = rest[:16].lstrip(" ,()")
    if not head:
        return None
    m = _OFFSET.match(head)
    if m:
        return _fixed(m.group(1), m.group(2), m.group(3))
    if head[:1] in ("Z", "z") and (len(head) == 1 or not head[1].isalpha()):
        return UTC
    w = _ZONE_WORD.match(head)
    if w:
        word = (w.group(1) or w.group(2)).lower()
        hours = ZONE_ABBREVIATIONS.get(word)
        if hours is not None:
            return timezone(timedelta(hours=hours))
    if head.lower().startswith("beijing time"):
        return timezone(timedelta(hours=8))
    return None


def _build(year: int, month: int, day: int, hour: int, minute: int, second: int,
           tz: tzinfo | None) -> datetime | None:
    if not 1970 <= year <= 2100:
        return None
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=tz or UTC)
    except ValueError:
        return None


def _from_timestamp(text: str) -> datetime | None:
    value = int(text)
    if len(text) == 13:
        value //= 1000
    try:
        out = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return out if 1990 <= out.year <= 2100 else None
