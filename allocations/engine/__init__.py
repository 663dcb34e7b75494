"""Pure-numpy allocation engine: estimators, allocation methods, limits, transition planner, measures.

No Django import: arrays and engine dataclasses in, dataclasses out. See
``ARCHITECTURE.md`` §5 for the formulas; every module's docstrings carry them too.

>>> import numpy as np
>>> from allocations.engine import risk_parity_weights
>>> risk_parity_weights(np.diag([0.01, 0.04])).round(4).tolist()
[0.6667, 0.3333]
"""

from . import errors, estimators, hrp, limits, measures, methods, pipeline, policy, result, risk_parity, transition
from .errors import *  # noqa: F403
from .estimators import *  # noqa: F403
from .hrp import *  # noqa: F403
from .limits import *  # noqa: F403
from .measures import *  # noqa: F403
from .methods import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .policy import *  # noqa: F403
from .registry import METHOD_REGISTRY as METHOD_REGISTRY  # Method, Hybrid, ... stay in their module
from .result import *  # noqa: F403
from .risk_parity import *  # noqa: F403
from .transition import *  # noqa: F403

# Each module lists its public names once, in its own ``__all__``; the package's are their union.
_PUBLIC_MODULES = (
    errors,
    estimators,
    hrp,
    limits,
    measures,
    methods,
    pipeline,
    policy,
    result,
    risk_parity,
    transition,
)
__all__ = list(dict.fromkeys([name for module in _PUBLIC_MODULES for name in module.__all__] + ["METHOD_REGISTRY"]))
