"""Request-shape pieces every domain's schemas share.

Numbers and digit strings from clients are ASCII digits only. A phone keyboard in Chinese mode types
full-width digits (４３０５…), so a string is first NFKC-normalised (which turns those into ASCII)
and then validated; other Unicode digits (Arabic-Indic ٤٣, Devanagari …) are refused, not read as
numbers the way Python's int() and re's \\d would: one number has one spelling.

Dates and instants from clients lie between EARLIEST and LATEST (a 422 naming the field): year 1 or
9999 with an offset overflowed converting to UTC, or adding a day, and answered 500.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from marshmallow import ValidationError, fields, validate

from core.db import DB_INT_MAX

ID = validate.Range(min=1, max=DB_INT_MAX)  # what an integer column holds: larger is a 422 here, not a 500 there

_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def nfkc(value: str) -> str:
    """The NFKC form without surrounding whitespace: full-width digits and letters become ASCII."""
    return unicodedata.normalize("NFKC", value).strip()


class _AsciiNumber:
    """A number field whose text form must be ASCII after NFKC (`written` is the pattern it must match)."""

    written: re.Pattern

    def _validated(self, value):
        if isinstance(value, str):
            value = nfkc(value)
            if not self.written.fullmatch(value):
                raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Integer(_AsciiNumber, fields.Integer):
    """An integer; written as a string it is ASCII digits after NFKC (no Unicode digits, no `4_3`)."""

    written = _ASCII_INTEGER


class Decimal(_AsciiNumber, fields.Decimal):
    """A decimal; written as a string it is ASCII digits and one point after NFKC (no exponent, no NaN)."""

    written = _ASCII_DECIMAL


class Float(_AsciiNumber, fields.Float):
    """A coordinate or measure; written as a string it is ASCII digits and one point after NFKC."""

    written = _ASCII_DECIMAL


class Digits(fields.String):
    """A code written in digits (a region code, a phone number, a month): NFKC, then an ASCII pattern.

    `pattern` uses [0-9], never \\d (which matches every script's digits).
    """

    def __init__(self, pattern: str, *, error: str, **kwargs):
        self.pattern = re.compile(pattern, re.ASCII)
        self.error = error
        super().__init__(validate=validate.Regexp(self.pattern, error=error), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return nfkc(super()._deserialize(value, attr, data, **kwargs))


def region_code(**kwargs) -> Digits:
    """A GB/T 2260 region code: six ASCII digits."""
    return Digits(r"^[0-9]{6}$", error="A region is a 6-digit GB/T 2260 code.", **kwargs)


def phone(**kwargs) -> Digits:
    """A mainland mobile number: 11 ASCII digits starting with 1."""
    return Digits(r"^1[0-9]{10}$", error="A mainland mobile number has 11 digits and starts with 1.", **kwargs)


# Every date a client sends or a cursor carries: nobody alive was born before, no plan runs after.
EARLIEST, LATEST = date(1900, 1, 1), date(2099, 12, 31)
OUT_OF_RANGE = f"Dates run from {EARLIEST.isoformat()} to {LATEST.isoformat()}."


def within_range(value: date | datetime) -> bool:
    """The date, or the date of an instant in its own offset, lies between EARLIEST and LATEST."""
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST


class _Bounded:
    """A date or instant field that refuses what lies outside EARLIEST..LATEST (before any arithmetic can overflow)."""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if not within_range(parsed):
            raise ValidationError(OUT_OF_RANGE)
        return parsed


class Date(_Bounded, fields.Date):
    """A calendar date between EARLIEST and LATEST."""


class DateTime(_Bounded, fields.DateTime):
    """An instant whose date (in its own offset) lies between EARLIEST and LATEST."""


class AwareDateTime(_Bounded, fields.AwareDateTime):
    """An instant with an offset (or the default timezone), its date between EARLIEST and LATEST."""


# Characters that show nothing: spaces and line breaks (Z*), controls (Cc), format characters (Cf: zero-width
# space and joiners, direction marks and overrides, the BOM), and letters that render blank (Hangul fillers,
# the blank Braille pattern).
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
INVISIBLE_NAME = "A name needs a visible character (not only spaces, zero-width or direction characters)."


def visible(text: str) -> bool:
    """Some character of `text` shows on screen."""
    return any(unicodedata.category(char) not in _INVISIBLE_CATEGORIES and char not in _BLANK_LETTERS for char in text)


class Name(fields.String):
    """The name of a person, place or body (a resident, a staff member, a centre, a team …): text with at least
    one visible character. A name of only spaces, zero-width or bidi-override characters looks empty on a
    roster and in a list, and cannot be told apart or searched for."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not visible(text):
            raise ValidationError(INVISIBLE_NAME)
        return text
