"""skfolio handed a covariance as it is, for the HRP test and the engine benchmark.

skfolio estimates its own covariance from the returns it is fitted on; comparing its solvers with
the engine's needs both to start from the same matrix. skfolio is optional: it is imported only
when a prior is asked for.
"""

from __future__ import annotations


def fixed_prior(covariance):
    """skfolio's ``EmpiricalPrior`` whose covariance estimator returns ``covariance`` unchanged."""
    from skfolio.moments import BaseCovariance
    from skfolio.prior import EmpiricalPrior

    class FixedCovariance(BaseCovariance):
        def __init__(self, covariance=None):
            super().__init__(nearest=False)
            self.covariance = covariance

        def fit(self, X, y=None):
            self.covariance_ = self.covariance
            return self

    return EmpiricalPrior(covariance_estimator=FixedCovariance(covariance))
