"""How a person reads the numbers (issue 21, item 21): percent with two decimals, money in the
portfolio's currency, times with their zone, statuses in words, whatever page shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from allocations import display


def test_weights_read_as_percent_of_equity_with_two_decimals():
    assert display.percent(0.1234) == "12.34 %"
    assert display.percent(0.123456789012345) == "12.35 %"  # not 17 digits of a float
    assert display.percent(1) == "100.00 %"
    assert display.percent(0.05, 0) == "5 %"
    assert display.percent(0.0123, signed=True) == "+1.23 %"
    assert display.percent(-0.0123, signed=True) == "-1.23 %"
    assert display.percent(-1e-9, signed=True) == "0.00 %"  # a rounding residue is no move
    assert display.percent(None) == display.percent(float("nan")) == "—"


def test_amounts_read_in_the_portfolios_currency():
    assert display.money(Decimal("9999999.99"), "USD") == "9,999,999.99 USD"
    assert display.money("10000000", "EUR") == "10,000,000.00 EUR"
    assert display.money(None, "USD") == "—"


def test_times_carry_their_zone():
    moment = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)
    assert display.when(moment, "UTC") == "2026-12-04 18:30 UTC"
    assert display.when(moment, "Europe/Zurich") == "2026-12-04 19:30 CET"
    assert display.when(None) == "—"


def test_statuses_read_as_words():
    assert display.status_words("pending_approval") == "pending approval"
    assert display.status_words("no_op") == "no change needed"
    assert display.run_outcome_words("applied", steps=5) == "step 1 of 5 applied"
    assert display.run_outcome_words("applied", steps=1) == "applied"
    assert display.run_outcome_words("pending_approval", steps=5) == "pending approval"
