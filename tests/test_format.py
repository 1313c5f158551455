"""Human units: the exact strings every CLI output relies on."""

from __future__ import annotations

import pytest

from memmond import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0 KB"), (1024, "1 KB"), (1_264_175_104, "1,234,546 KB"), (24684092 * 1024, "24,684,092 KB")],
)
def test_kb(value: int, text: str) -> None:
    assert fmt.kb(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(10 * 1024 * 1024, "+10,240 KB"), (-512 * 1024, "-512 KB"), (0, "0 KB"), (100, "0 KB")],
)
def test_signed_kb(value: int, text: str) -> None:
    assert fmt.signed_kb(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (10_522_669_875, "9.8 GiB"),
        (-3 * 1024**2, "-3.0 MiB"),
        (2**70, "1024.0 EiB"),
    ],
)
def test_iec(value: int, text: str) -> None:
    assert fmt.iec(value) == text


def test_signed_iec_and_percentages() -> None:
    assert fmt.signed_iec(1536) == "+1.5 KiB"
    assert fmt.signed_iec(-1536) == "-1.5 KiB"
    assert fmt.signed_iec(0) == "0 B"
    assert fmt.percent(0.4523) == "45.2%"
    assert fmt.percent(0.0001, 2) == "0.01%"
    assert fmt.signed_percent(-0.015) == "-1.5%"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2.5, "2.5 s"), (90, "1m 30s"), (7380, "2h 3m"), (200000, "2d 7h"), (300, "5m"), (7200, "2h"), (172800, "2d")],
)
def test_duration(seconds: float, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_rate() -> None:
    assert fmt.rate(3.14159) == "3.14/s"
    assert fmt.rate(12345.6) == "12,346/s"


def test_table_aligns_numbers_right_and_text_left() -> None:
    text = fmt.table(
        [["MemTotal", "1,000 KB", "total"], ["Dirty", "4 KB", "not yet written"]],
        header=["field", "value", "meaning"],
        align="lrl",
    )
    assert text.splitlines() == [
        "  field        value  meaning",
        "  MemTotal  1,000 KB  total",
        "  Dirty         4 KB  not yet written",
    ]
