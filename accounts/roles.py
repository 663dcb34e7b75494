"""The roles of the service and what each may do on a portfolio granted to it.

Roles are groups. A group holds no portfolio permission globally: what a user may do on a
portfolio comes from per-portfolio grants (django-guardian), so a user of portfolio A sees
nothing of portfolio B.
"""

from __future__ import annotations

VIEWER = "viewer"
PORTFOLIO_MANAGER = "portfolio_manager"
RISK_OFFICER = "risk_officer"
ADMINISTRATOR = "administrator"
INTEGRATION = "integration"

VIEW = "view_portfolio"
INGEST = "ingest_data"
REBALANCE = "request_rebalance"
MANAGE_POLICY = "manage_policy"
APPROVE = "approve_run"

PORTFOLIO_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: (VIEW,),
    PORTFOLIO_MANAGER: (VIEW, INGEST, REBALANCE),
    RISK_OFFICER: (VIEW, INGEST, REBALANCE, MANAGE_POLICY, APPROVE),
    ADMINISTRATOR: (VIEW, INGEST, REBALANCE, MANAGE_POLICY, APPROVE),
    INTEGRATION: (VIEW, INGEST, REBALANCE),
}
ROLES = tuple(PORTFOLIO_PERMISSIONS)

# Roles whose members work in the web admin (is_staff), with these model permissions there.
STAFF_MODEL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    RISK_OFFICER: (
        "allocations.view_portfolio",
        "allocations.view_strategy",
        "allocations.view_sector",
        "allocations.view_fund",
        "allocations.view_allocationpolicy",
        "allocations.add_allocationpolicy",
        "allocations.view_allocationrun",
        "allocations.view_allocationline",
        "allocations.view_transitionschedule",
        "allocations.view_transitionstep",
        "allocations.view_auditentry",
        "allocations.view_sectorsignal",
        "allocations.view_strategyreturn",
        "allocations.view_equitychange",
        "allocations.view_policyproposal",
    ),
    ADMINISTRATOR: (),
}
