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
    mask_name,
    uscc_check_char,
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


def test_masks_hide_the_middle():
    assert mask("11010519491231002X") == "1101**********002X"
    assert mask("123") == "***"
    assert mask_name("张三丰") == "张**" and mask_name("John Smith") == "J*** S****"
