"""The ways of writing a date that the seq2seq models learned, English and Chinese.

Each form renders a `datetime.date` as one exact string; the models read those strings and write
the ISO date (2026-11-22). The same renderers make the training data (attnviz.train.dates), the
page's samples and the check "is this input one of the training forms?".
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

FIRST, LAST = date(1900, 1, 1), date(2099, 12, 31)
# Two-digit years are read like POSIX strptime's %y: 69-99 -> 19xx, 00-68 -> 20xx. The US short
# form is only generated (and only defined) for the years it can name without ambiguity.
SHORT_YEARS = (1969, 2068)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ZH_DIGITS = "〇一二三四五六七八九"
ZH_WEEKDAYS = "一二三四五六日"


def ordinal(day: int) -> str:
    """1st 2nd 3rd 4th ... 11th 12th 13th ... 21st 22nd 23rd ... 31st."""
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def zh_number(n: int) -> str:
    """1..31 in Chinese numerals: 十, 十一, 二十, 二十二, 三十一."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else ZH_DIGITS[tens] + "十")
    return head + (ZH_DIGITS[ones] if ones else "")


def zh_year(year: int) -> str:
    """A year read digit by digit: 2026 -> 二〇二六."""
    return "".join(ZH_DIGITS[int(c)] for c in str(year))


FORMS = {
    "d_mon_yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "mon_d_yyyy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    "month_dth_yyyy": lambda d: f"{MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}",
    "weekday_d_month_yyyy": lambda d: (
        f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}"
    ),
    "us_short": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "us_long": lambda d: f"{d.month}/{d.day}/{d.year}",
    "dotted": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "iso": lambda d: d.isoformat(),
    "zh_digits": lambda d: f"{d.year}年{d.month}月{d.day}日",
    "zh_hao": lambda d: f"{d.year}年{d.month}月{d.day}号",
    "zh_numerals": lambda d: f"{zh_year(d.year)}年{zh_number(d.month)}月{zh_number(d.day)}日",
    "zh_weekday": lambda d: f"{d.year}年{d.month}月{d.day}日星期{ZH_WEEKDAYS[d.weekday()]}",
}


def covers(form: str, day: date) -> bool:
    """Whether `form` can write `day` unambiguously (only the two-digit year cannot always)."""
    return form != "us_short" or SHORT_YEARS[0] <= day.year <= SHORT_YEARS[1]


def render(form: str, day: date) -> str:
    return FORMS[form](day)


def all_days() -> list[date]:
    """Every day from 1900-01-01 to 2099-12-31."""
    return [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


def input_chars() -> str:
    """Every character any form writes, sorted: the models' input vocabulary."""
    chars: set[str] = set()
    for day in all_days()[::5]:  # 5 is prime to 7 and 10: every weekday and every digit
        for form in FORMS:
            chars.update(render(form, day))
    return "".join(sorted(chars))


def normalize(text: str) -> str:
    """NFKC (full-width digits become ASCII), outer space dropped, inner runs of space as one."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def parse_iso(text: str) -> date | None:
    """The date an ISO string names, or None if it is not a real calendar date in range."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if len(text) == 10 and FIRST <= day <= LAST else None


def form_of(text: str, day: date | None) -> str | None:
    """The training form that writes `day` exactly as `text` (normalized), or None."""
    if day is None:
        return None
    text = normalize(text)
    return next((f for f in FORMS if covers(f, day) and render(f, day) == text), None)


# What any date has, in any form a person might type: a digit (Chinese numerals and 年月日号
# included), a month or weekday name or its start (three letters at least: "Sept", "Thurs"), or
# a number written as a word ("the first of May", "twenty twenty-six").
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    "|sixteen|seventeen|eighteen|nineteen|twenty|thirty|twentieth|thirtieth|first|second|third"
    "|fifth|eighth|ninth|twelfth|hundred|thousand"
)
_DATE_HINT = re.compile(
    r"[0-9〇一二三四五六七八九十年月日号]|\b(?:"
    + "|".join(name[:n] for name in (*MONTHS, *WEEKDAYS) for n in range(len(name), 2, -1))
    + rf")\b|\b(?:{_NUMBER_WORDS})(?:th)?\b",
    re.IGNORECASE,
)


def looks_like_date(text: str) -> bool:
    """Whether `text` has anything a date is written with: a digit, a month or weekday name, or
    a number word. "hello world" has none: whatever date a model writes for it is invented."""
    return _DATE_HINT.search(normalize(text)) is not None
