"""The audit service's batch encoder writes exactly what ``canonical_content`` (the chain's
definition, also used by ``verify_audit``) writes, so the HMAC chain is unchanged."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pytest

from allocations.audit_canonical import AuditRecord, CanonicalBatch, cents_text
from allocations.audit_chain import canonical_content, normalise_payload

TEXTS = ["", "run 1 step 2", 'quote " and \\ backslash', "ünïcødé ✓ 日本", "line\nbreak\ttab", "\u2028"]
PAYLOADS = [{}, {"a": 1, "b": [1, 2.5, None]}, {"z": "ü", "a": {"y": True, "x": "\\"}}, {"n": 1e-300, "m": -0.0}]
AMOUNTS = [None, Decimal("0"), Decimal("0.00"), Decimal("12345678901234.56"), Decimal("-3.1"), Decimal("7")]


@pytest.mark.parametrize("seed", range(5))
def test_the_batch_encoder_matches_canonical_content_byte_for_byte(seed):
    rng = np.random.default_rng(seed)
    created = dt.datetime(2026, 11, 28, 10, 0, 0, int(rng.integers(0, 999999)), tzinfo=dt.UTC)
    for actor_id, label in [(None, "command:seed"), (7, TEXTS[int(rng.integers(len(TEXTS)))])]:
        batch = CanonicalBatch(portfolio_id=3, created_at=created, actor_id=actor_id, actor_label=label)
        for _ in range(200):
            pick = lambda values: values[int(rng.integers(len(values)))]  # noqa: E731
            row = {
                "portfolio_id": 3,
                "kind": pick(["fund_change", "run_created", "policy_change"]),
                "created_at": created,
                "strategy_id": pick([None, 1, 10**12]),
                "run_id": pick([None, 5]),
                "step_id": pick([None, 0, 9]),
                "old_amount": pick(AMOUNTS),
                "new_amount": pick(AMOUNTS),
                "total_capital": pick(AMOUNTS),
                "actor_id": actor_id,
                "actor_label": label,
                "reason": pick(TEXTS),
                "payload": normalise_payload(pick(PAYLOADS)),
            }
            assert batch(row) == canonical_content(**row)


@pytest.mark.parametrize("seed", range(3))
def test_the_encoder_of_records_matches_canonical_content_byte_for_byte(seed):
    """``of_record`` (the streamed path: amounts formatted once, shared parts encoded once) is the chain's content."""
    rng = np.random.default_rng(seed)
    created = dt.datetime(2026, 11, 28, 10, 0, 0, int(rng.integers(0, 999999)), tzinfo=dt.UTC)
    batch = CanonicalBatch(portfolio_id=3, created_at=created, actor_id=7, actor_label=TEXTS[seed])
    pick = lambda values: values[int(rng.integers(len(values)))]  # noqa: E731
    for _ in range(300):
        record = AuditRecord(
            kind=pick(["fund_change", "run_created"]),
            reason=pick(TEXTS),
            strategy_id=pick([None, 1, 10**12]),
            run_id=pick([None, 5]),
            step_id=pick([None, 0, 9]),
            old_amount=pick(AMOUNTS),
            new_amount=pick(AMOUNTS),
            total_capital=pick(AMOUNTS),
            payload=pick(PAYLOADS),
        )
        payload = normalise_payload(record.payload)
        payload_text = (
            json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if payload else "{}"
        )
        amounts = [cents_text(a) for a in (record.old_amount, record.new_amount, record.total_capital)]
        expected = canonical_content(
            portfolio_id=3,
            kind=record.kind,
            created_at=created,
            strategy_id=record.strategy_id,
            run_id=record.run_id,
            step_id=record.step_id,
            old_amount=record.old_amount,
            new_amount=record.new_amount,
            total_capital=record.total_capital,
            actor_id=7,
            actor_label=TEXTS[seed],
            reason=record.reason,
            payload=payload,
        )
        assert batch.of_record(record, payload_text, *amounts) == expected
