"""The one integer parser every dialect reads its numbers with: ASCII decimal digits and nothing else."""

from __future__ import annotations

import pytest

from chalicelib.services.integers import ascii_integer


@pytest.mark.parametrize("text, number", [("0", 0), ("7", 7), ("0042", 42), ("9" * 18, 10**18 - 1)])
def test_ascii_digits_are_their_number(text: str, number: int) -> None:
    assert ascii_integer(text) == number


@pytest.mark.parametrize(
    "text",
    ["", "-", "+1", "1.5", "1e3", "abc", " 1", "1 ", "1\n", "1_0", "0x10", "\uff11", "\u0663", "\u00b2", "-1"],
)
def test_anything_int_might_also_take_is_no_number(text: str) -> None:
    # int() reads " 1", "1\n", "1_0", "+1" and "١" (Arabic-Indic one); a client writing those did not mean a number
    assert ascii_integer(text) is None


def test_a_sign_is_read_only_where_the_caller_accepts_one() -> None:
    assert ascii_integer("-3", signed=True) == -3
    assert ascii_integer("-0", signed=True) == 0
    assert ascii_integer("--3", signed=True) is None
    assert ascii_integer("3-", signed=True) is None


def test_more_digits_than_the_caller_allows_is_no_number_unless_it_saturates() -> None:
    # Given numbers longer than the digits a caller reads
    long_text = "1" * 19

    # Then they are no number, or with `saturate` a number beyond any range the caller accepts
    assert ascii_integer(long_text) is None
    assert ascii_integer("12345", digits=4) is None
    assert ascii_integer("1234", digits=4) == 1234
    assert ascii_integer(long_text, signed=True, saturate=True) == 10**18
    assert ascii_integer("-" + long_text, signed=True, saturate=True) == -(10**18)
    assert ascii_integer("1" * 5000, signed=True, saturate=True) == 10**18  # past int()'s own digit limit
    assert ascii_integer("1.5", signed=True, saturate=True) is None
