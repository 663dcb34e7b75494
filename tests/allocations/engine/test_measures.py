"""Measures: value path, total return, drawdown, volatility, Sharpe, effective number, by hand."""

import math

import numpy as np
import pytest

from allocations.engine import (
    TRADING_DAYS,
    annualised_volatility,
    effective_number,
    max_drawdown,
    sharpe_ratio,
    total_return,
    value_path,
)

R = [0.10, -0.20, 0.05]  # 1 -> 1.1 -> 0.88 -> 0.924


def test_value_path_and_total_return():
    np.testing.assert_allclose(value_path(R), [1.0, 1.1, 0.88, 0.924], rtol=1e-15)
    assert total_return(R) == pytest.approx(-0.076, rel=1e-13)
    assert value_path([]).tolist() == [1.0]
    assert total_return([]) == 0.0


def test_max_drawdown():
    assert max_drawdown(R) == pytest.approx(0.2, rel=1e-13)  # 1.1 -> 0.88
    assert max_drawdown([-0.5, 1.0, -0.25]) == pytest.approx(0.5)  # 1 -> .5 (-50%); 1 -> .75 (-25%)
    assert max_drawdown([0.01, 0.02]) == 0.0
    assert max_drawdown([]) == 0.0


def test_annualised_volatility_and_sharpe():
    # mean 0.02, deviations (0.01, -0.01), sample variance 2e-4 / 1
    r = [0.03, 0.01]
    assert annualised_volatility(r) == pytest.approx(math.sqrt(2e-4) * math.sqrt(252), rel=1e-12)
    assert sharpe_ratio(r) == pytest.approx(math.sqrt(252) * 0.02 / math.sqrt(2e-4), rel=1e-12)
    assert annualised_volatility([0.01]) is None and sharpe_ratio([0.01]) is None
    assert sharpe_ratio([0.01, 0.01, 0.01]) is None
    assert TRADING_DAYS == 252


def test_effective_number():
    assert effective_number([0.25, 0.25, 0.25, 0.25]) == pytest.approx(4.0)
    assert effective_number([0.1] * 5) == pytest.approx(5.0)  # cash does not inflate it
    assert effective_number([0.5, 0.25, 0.25]) == pytest.approx(1 / 0.375)
    assert effective_number([0.0, 0.0]) == 0.0
