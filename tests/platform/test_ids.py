"""The check-character validators, cross-checked against python-stdnum where stdnum is right."""

import random
from datetime import date

import pytest
from stdnum.cn import ric, uscc

from hutong.platform.ids import (
    USCC_ALPHABET,
    InvalidNumber,
    id_check_char,
    mask,
    mask_id,
    mask_name,
    uscc_check_char,
    validate_bank_account,
    validate_resident_id,
    validate_uscc,
)

rng = random.Random(20261124)


def random_uscc(first: str) -> str:
    body = first + rng.choice("123459") + "".join(rng.choice("0123456789") for _ in range(6))
    body += "".join(rng.choice(USCC_ALPHABET) for _ in range(17 - len(body)))
    return body + uscc_check_char(body)


def random_id(region: str = "110105") -> str:
    born = date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28))
    body = region + born.strftime("%Y%m%d") + f"{rng.randint(0, 999):03d}"
    return body + id_check_char(body)


def test_uscc_agrees_with_stdnum_on_digit_prefixes_and_typos():
    for _ in range(300):
        n = random_uscc(rng.choice("123459"))
        assert validate_uscc(n) == n and uscc.is_valid(n)
        typo = n[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(n[17]) + 1) % 31]
        assert not uscc.is_valid(typo)
        with pytest.raises(InvalidNumber, match="check character"):
            validate_uscc(typo)


@pytest.mark.parametrize("first", ["Y", "N", "A", "G"])
def test_uscc_with_letter_authority_is_valid_where_stdnum_refuses(first):
    n = random_uscc(first)
    assert validate_uscc(n) == n
    assert not uscc.is_valid(n)  # python-stdnum's known false rejection


def test_resident_id_agrees_with_stdnum():
    for _ in range(300):
        n = random_id()
        assert validate_resident_id(n) == n and ric.is_valid(n)
        bad = n[:17] + ("0" if n[17] != "0" else "1")
        assert not ric.is_valid(bad)
        with pytest.raises(InvalidNumber, match="check digit"):
            validate_resident_id(bad)


def test_resident_id_born_before_county_record_is_valid_where_stdnum_refuses():
    # stdnum records 110112 (Tongzhou district) from 1997 on; people registered there and born earlier
    # carry it (numbers are re-issued under the current code)
    body = "110112" + "19520314" + "123"
    n = body + id_check_char(body)
    assert validate_resident_id(n) == n
    assert not ric.is_valid(n)


@pytest.mark.parametrize(
    ("number", "needle"),
    [
        ("11010519491231002", "18 characters"),
        ("110105491231002", "15-digit"),
        ("1101051949123100AX", "17 digits"),
        ("99010519491231002X", "province"),
        ("110105194902300021", "date of birth"),
        ("110105299912310021", "future"),
    ],
)
def test_bad_resident_ids(number, needle):
    with pytest.raises(InvalidNumber, match=needle):
        validate_resident_id(number)


@pytest.mark.parametrize(
    ("number", "needle"),
    [
        ("9111000010000000", "18 characters"),
        ("91110000I0000000OR", "not used"),
        ("Z1110000100000000R", "not used"),
        ("H1110000100000000R", "registration authority"),
        ("91AB0000100000000R", "division code"),
    ],
)
def test_bad_usccs(number, needle):
    with pytest.raises(InvalidNumber, match=needle):
        validate_uscc(number)


def test_masks_hide_all_but_the_end():
    assert mask_id("11010519491231002X") == "****************2X"
    assert mask("6222020012345678") == "************5678"  # a bank account: the last four, as banks show it
    assert mask("123") == "***"
    assert mask_name("张三丰") == "张**"


FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def test_fullwidth_forms_read_as_the_same_ascii_number():
    """What a CJK input method types (fullwidth digits, ideographic space) is the same number, so the
    duplicate rule sees it as the same person."""
    n = random_id()
    assert validate_resident_id(n.translate(FULLWIDTH)) == n
    assert validate_resident_id(n[:6] + "\u3000" + n[6:].lower().translate(FULLWIDTH)) == n
    code = random_uscc("9")
    assert validate_uscc(code.translate(FULLWIDTH).lower()) == code
    assert validate_bank_account("６２２２ ０２００ １２３４ ５６７８") == "6222020012345678"


@pytest.mark.parametrize(
    "lookalike",
    [
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),  # Arabic-Indic
        str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"),  # Extended Arabic-Indic
        str.maketrans("0123456789", "०१२३४५६७८९"),  # Devanagari
        str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"),  # superscripts: int("²") raised ValueError (a 500)
        str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"),  # mathematical bold
        str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨"),  # circled
    ],
)
def test_other_digits_are_refused_for_every_identifier(lookalike):
    n, code = random_id(), random_uscc("9")
    for bad in (n[:5] + n[5].translate(lookalike) + n[6:], n.translate(lookalike)):
        with pytest.raises(InvalidNumber, match="0-9"):
            validate_resident_id(bad)
    with pytest.raises(InvalidNumber, match="0-9"):
        validate_uscc(code[:4] + code[4].translate(lookalike) + code[5:])
    with pytest.raises(InvalidNumber, match="0-9"):
        validate_bank_account("62220200123456" + "7".translate(lookalike) + "8")


@pytest.mark.parametrize("odd", ["ß", "ı", "ﬃ", "\ud800", "\x00", "\u212a"])  # K: Kelvin sign
def test_letters_that_change_when_upper_cased_and_other_oddities_are_refused(odd):
    code = random_uscc("9")
    with pytest.raises(InvalidNumber):
        validate_uscc(code[:10] + odd + code[11:])
    with pytest.raises(InvalidNumber):
        validate_resident_id(random_id()[:17] + odd)


def test_bank_account_numbers():
    assert validate_bank_account("6222-0200 1234-5678") == "6222020012345678"
    for bad, needle in [
        ("12", "8-30 digits"),
        ("6222 0200 1234 567A", "8-30 digits"),
        ("6222 0200 1234 567٨", "0-9"),
        ("1" * 31, "8-30 digits"),
    ]:
        with pytest.raises(InvalidNumber, match=needle):
            validate_bank_account(bad)


def test_id_mask_shows_at_most_two_characters():
    n = random_id()
    masked = mask_id(n)
    assert masked == "*" * 16 + n[-2:]
    assert sum(c != "*" for c in masked) <= 2


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张 三", "张*"),
        ("王\u3000五", "王*"),
        ("A B C", "A**"),
        ("  欧阳\t明月 ", "欧***"),
        ("John Smith", "J********"),
        ("Ｊｏｈｎ", "J***"),
        ("张", "张*"),
        ("", ""),
    ],
)
def test_names_are_masked_whatever_their_spacing(name, masked):
    assert mask_name(name) == masked
    assert sum(c != "*" for c in mask_name(name)) <= 1
