"""The rebalance service: from returns to a run, its schedule, funds moved and audited."""

from __future__ import annotations

import threading
from decimal import ROUND_DOWN, Decimal

import numpy as np
import pytest
from django.apps import apps
from django.db import connection

from accounts import roles
from accounts.services import portfolio_grant, user_ensure
from allocations.demo import demo_seed
from allocations.errors import DomainError
from allocations.models import (
    AllocationRun,
    AuditEntry,
    Portfolio,
    TransitionSchedule,
    TransitionStep,
)
from allocations.selectors.audit import audit_verify
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import set_policy

from .conftest import EQUITY, funds_of


def _counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in apps.get_app_config("allocations").get_models()}


def test_dry_run_computes_everything_and_writes_nothing(demo, users):
    before = _counts()
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(dry_run=True, total_equity=EQUITY)
    )
    assert _counts() == before
    target = np.array(list(outcome.target_allocation.values()))
    assert np.isfinite(target).all() and (target >= 0).all() and target.sum() <= 1 + 1e-12
    assert target.max() <= 0.2 + 1e-9  # the default max single-strategy exposure
    assert outcome.status == AllocationRun.Status.COMPUTED
    last = outcome.transition_schedule[-1]["weights"]
    assert last == pytest.approx(outcome.target_allocation, abs=1e-15)


def test_applied_run_moves_funds_by_step_one_and_audits_each_move(demo, users):
    set_policy(demo, approval_threshold=2.0)
    before = funds_of(demo)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    assert outcome.status == AllocationRun.Status.APPLIED
    run = outcome.run
    first = outcome.transition_schedule[0]
    assert first["status"] == TransitionStep.Status.APPLIED
    after = funds_of(demo)
    moved = {code for code in after if after[code] != before[code]}
    for code in moved:
        expected = (Decimal(repr(first["weights"][code])) * EQUITY).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        assert after[code] == expected
    rows = AuditEntry.objects.filter(run=run, kind=AuditEntry.Kind.FUND_CHANGE)
    assert {r.strategy.code for r in rows} == moved
    for row in rows:
        assert row.old_amount == before[row.strategy.code] and row.new_amount == after[row.strategy.code]
    assert sum(after.values()) <= EQUITY
    assert audit_verify().ok
    assert run.lines.count() == 16


def test_idempotency_key_returns_the_first_run(demo, users):
    set_policy(demo, approval_threshold=2.0)
    actor = Actor.of_user(users["pm"])
    one = allocation_run_create(portfolio=demo, actor=actor, request=RebalanceRequest(idempotency_key="abc-1"))
    two = allocation_run_create(portfolio=demo, actor=actor, request=RebalanceRequest(idempotency_key="abc-1"))
    assert one.allocation_id == two.allocation_id and two.replayed
    assert AllocationRun.objects.filter(portfolio=demo).count() == 1


@pytest.mark.parametrize(
    "request_kwargs, field",
    [
        # Shape and type (NaN, infinity, words, unknown choices, ranges) are the serializer's:
        # tests/allocations/api/test_bad_input.py::test_rebalance_shape_errors_name_the_field.
        ({"total_equity": Decimal("0")}, "total_equity"),
        ({"total_equity": Decimal("-5")}, "total_equity"),
        ({"sector_signals": [{"sector": "nowhere", "action": "BUY", "confidence": 0.5}]}, "sector_signals[0].sector"),
        ({"strategy_performance": {"ghost": {"sharpe": 1.0}}}, "strategy_performance.ghost"),
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(demo, users, request_kwargs, field):
    before = _counts()
    with pytest.raises(DomainError) as err:
        allocation_run_create(
            portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(**request_kwargs)
        )
    assert err.value.field == field
    assert _counts() == before


def test_sector_signals_of_the_request_move_weight_into_the_sector(demo, users):
    actor = Actor.of_user(users["pm"])
    set_policy(demo, method="momentum")
    base = allocation_run_create(
        portfolio=demo,
        actor=actor,
        request=RebalanceRequest(
            dry_run=True, sector_signals=[{"sector": "energy", "action": "HOLD", "confidence": 1}]
        ),
    )
    bought = allocation_run_create(
        portfolio=demo,
        actor=actor,
        request=RebalanceRequest(dry_run=True, sector_signals=[{"sector": "energy", "action": "BUY", "confidence": 1}]),
    )
    energy = [c for c, s in base.explanation_rows()["strategies"].items() if s["sector"] == "energy"]
    assert energy

    def energy_share(outcome, stage):
        rows = outcome.explanation_rows()["strategies"]
        return sum(rows[c][stage] for c in energy) / sum(r[stage] for r in rows.values())

    # BUY with confidence 1 multiplies the sector by 1.3 before normalising (ARCHITECTURE 5.6).
    s0 = energy_share(base, "after_signals")
    expected = 1.3 * s0 / (1.3 * s0 + (1 - s0))
    assert energy_share(bought, "after_signals") == pytest.approx(expected, rel=1e-9)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_rebalances_never_both_write_at_once():
    demo_seed(strategies=16, days=80, seed=5)
    demo = Portfolio.objects.get(slug="demo")
    set_policy(demo, approval_threshold=2.0)
    pm, _ = user_ensure(username="pm", role=roles.PORTFOLIO_MANAGER, password="x")
    portfolio_grant(user=pm, portfolio=demo, role=roles.PORTFOLIO_MANAGER)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def rebalance(method: str):
        try:
            barrier.wait()
            allocation_run_create(
                portfolio=demo,
                actor=Actor.of_user(pm),
                request=RebalanceRequest(total_equity=EQUITY, allocation_method=method),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rebalance, args=(m,)) for m in ("equal_weight", "inverse_volatility")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    runs = list(AllocationRun.objects.filter(portfolio=demo).order_by("id"))
    assert len(runs) == 2 and all(r.status == AllocationRun.Status.APPLIED for r in runs)
    assert TransitionSchedule.objects.filter(portfolio=demo, status="active").count() <= 1
    # The second run saw the first one's funds: its lines' current weights are the funds after run 1's step 1.
    first_step = TransitionSchedule.objects.get(run=runs[0]).steps.get(index=1).weights
    second_current = dict(runs[1].lines.values_list("strategy_id", "current_weight"))
    for sid, weight in first_step.items():
        assert second_current[int(sid)] == pytest.approx(weight, abs=2e-9)
    assert audit_verify().ok


def test_the_inputs_digest_hashes_the_bytes_of_the_arrays_as_before():
    """The digest reads the panel in place and skips the NaN copy of a finite panel; the value is unchanged."""
    import hashlib

    from allocations import adapters
    from allocations.services.runs import _finite

    def reference(*parts) -> str:
        digest = hashlib.sha256()
        for part in parts:
            digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
            digest.update(b"|")
        return digest.hexdigest()

    rng = np.random.default_rng(4)
    finite = rng.normal(size=(30, 7))
    holes = finite.copy()
    holes[2, 3], holes[4, 5] = np.nan, np.inf
    for panel in (finite, holes, finite[:, ::2], finite.T):
        assert _finite(panel).tobytes() == np.nan_to_num(panel, nan=-9.0).tobytes()
        parts = (1, "risk_parity", np.arange(7), _finite(panel), [("tech", "BUY", 0.5)], None)
        assert adapters.inputs_digest(*parts) == reference(
            1, "risk_parity", np.arange(7), np.nan_to_num(panel, nan=-9.0), [("tech", "BUY", 0.5)], None
        )


def _preview_then(demo, actor, **request):
    """The digest a dry run of ``request`` answers (the dashboard's preview carries it to the confirm)."""
    preview = allocation_run_create(portfolio=demo, actor=actor, request=RebalanceRequest(dry_run=True, **request))
    return preview.explanation["inputs_digest"]


def test_a_confirm_runs_what_was_previewed_and_is_refused_when_the_data_changed(demo, users):
    """Issue 21 item 7: the confirm ran whatever the data was by then. It now carries the preview's
    inputs digest: the same inputs run; a sector signal (or a fund move) in between, or another
    method than the preview's, is refused, naming the digest, and nothing is written."""
    from allocations.errors import ConflictError
    from allocations.services.funds import fund_adjust
    from allocations.services.signals import signal_create

    set_policy(demo, approval_threshold=2.0)
    pm = Actor.of_user(users["pm"])
    sector = demo.strategies.exclude(sector=None).values_list("sector__code", flat=True).first()

    changes = [
        lambda: signal_create(portfolio=demo, actor=pm, sector=sector, action="BUY", confidence=0.9),
        lambda: fund_adjust(portfolio=demo, strategy=demo.strategies.first(), ratio=0.5, actor=pm),
    ]
    for change in changes:
        digest = _preview_then(demo, pm, allocation_method="equal_weight")
        change()
        before = _counts()
        with pytest.raises(ConflictError, match="the data changed since the preview") as refused:
            allocation_run_create(
                portfolio=demo,
                actor=pm,
                request=RebalanceRequest(allocation_method="equal_weight", previewed_digest=digest),
            )
        assert refused.value.field == "inputs_digest"
        assert _counts() == before

    digest = _preview_then(demo, pm, allocation_method="equal_weight")
    with pytest.raises(ConflictError):  # the preview's method, not another one
        allocation_run_create(
            portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="risk_parity", previewed_digest=digest)
        )
    outcome = allocation_run_create(
        portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="equal_weight", previewed_digest=digest)
    )
    assert outcome.status == AllocationRun.Status.APPLIED and outcome.run.inputs_digest == digest
