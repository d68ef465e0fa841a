"""Chinese enterprise and identity numbers: check characters, and masking for display.

Written here rather than taken from python-stdnum, whose validators refuse real numbers: a unified social
credit code whose registration-authority character is a letter (``Y`` other, ``N`` agriculture, ``A``–``G``
…), and resident ID numbers of people born before their county code's recorded start year.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# GB 32100-2015: 31 characters, no I, O, S, V, Z
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31
USCC_AUTHORITIES = set("123456789ABCDEFGNY")
# GB 11643-1999: ISO 7064 MOD 11-2
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
PROVINCES = {
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
    50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91,
}  # fmt: skip


class InvalidNumber(ValueError):
    """The number is malformed; ``str()`` says how, without repeating the number."""


def _compact(number: str) -> str:
    """The number in ASCII capitals, without spaces or hyphens, or :class:`InvalidNumber`.

    Only ASCII digits and letters make a number. Their fullwidth forms (what a CJK input method types) are
    read as the same characters, the NFKC way; every other digit or look-alike (Arabic-Indic ``٣``,
    superscript ``²``, circled ``③``, bold ``𝟑``, ``ß``, the Kelvin sign) is refused. Python's ``isdigit()``
    and ``int()`` accept many of these, so a number written with them passed validation and gave another
    duplicate tag than the same number in ASCII.
    """
    out = []
    for c in str(number):
        if c.isascii():
            plain = c
        elif unicodedata.decomposition(c).startswith("<wide>"):  # fullwidth form: NFKC gives its ASCII
            plain = unicodedata.normalize("NFKC", c)
        elif c.isspace():
            continue
        else:
            plain = ""
        if plain.isspace() or plain == "-":
            continue
        if not (plain.isascii() and plain.isalnum()):
            raise InvalidNumber("only the digits 0-9 and the letters A-Z are used in this number")
        out.append(plain.upper())
    return "".join(out)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(number: str) -> str:
    """A unified social credit code (统一社会信用代码), compacted, or :class:`InvalidNumber`."""
    n = _compact(number)
    if len(n) != 18:
        raise InvalidNumber(f"a unified social credit code has 18 characters, not {len(n)}")
    bad = sorted({c for c in n if c not in USCC_ALPHABET})
    if bad:
        raise InvalidNumber(f"character(s) {''.join(bad)} are not used in unified social credit codes")
    if n[0] not in USCC_AUTHORITIES:
        raise InvalidNumber(f"{n[0]!r} is not a registration authority code (1-9, A-G, N, Y)")
    if not re.fullmatch(r"[0-9]{6}", n[2:8]):
        raise InvalidNumber("characters 3-8 must be the administrative division code (digits)")
    if n[17] != uscc_check_char(n[:17]):
        raise InvalidNumber("the check character does not match (a typo?)")
    return n


def id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def validate_resident_id(number: str, *, today: date | None = None) -> str:
    """An 18-digit resident identity card number (居民身份证号码), compacted, or :class:`InvalidNumber`."""
    n = _compact(number)
    if len(n) == 15:
        raise InvalidNumber("15-digit first-generation ID numbers are not accepted: give the 18-digit number")
    if len(n) != 18:
        raise InvalidNumber(f"a resident ID number has 18 characters, not {len(n)}")
    if not re.fullmatch(r"[0-9]{17}[0-9X]", n):
        raise InvalidNumber("a resident ID number is 17 digits and a final digit or X")
    if int(n[:2]) not in PROVINCES:
        raise InvalidNumber("the first two digits are not a province code")
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        raise InvalidNumber("digits 7-14 are not a valid date of birth") from None
    if not date(1890, 1, 1) <= born <= (today or date.today()):
        raise InvalidNumber("the date of birth is in the future or implausibly old")
    if n[17] != id_check_char(n[:17]):
        raise InvalidNumber("the check digit does not match (a typo?)")
    return n


def validate_bank_account(number: str) -> str:
    """A bank account (card) number: 8-30 digits once spaces and hyphens are dropped."""
    n = _compact(number)
    if not re.fullmatch(r"[0-9]{8,30}", n):
        raise InvalidNumber("a bank account number is 8-30 digits")
    return n


def mask(number: str, *, tail: int = 4) -> str:
    """``************5678``: the last ``tail`` characters, as a bank statement shows an account."""
    n = _compact(number)
    return "*" * len(n) if len(n) <= tail else "*" * (len(n) - tail) + n[-tail:]


def mask_id(number: str) -> str:
    """``****************2X``: the last two characters, enough to tell one's own number from another, and
    together with anything else kept after deletion far too little to recover it (the first eight characters
    are the place and year of birth, which narrow a search most)."""
    return mask(number, tail=2)


def mask_name(name: str) -> str:
    """``张*``, ``J********``: the first letter of the name and a star for each further character, whatever
    the spacing (``张 三``, ``王\u3000五``, ``A B C``) — the family name of a two-part name is not shown."""
    chars = [c for c in unicodedata.normalize("NFKC", name) if not c.isspace()]
    if not chars:
        return ""
    first = next((i for i, c in enumerate(chars) if unicodedata.category(c)[0] in "LN"), 0)
    return chars[first] + "*" * max(1, len(chars) - first - 1)
