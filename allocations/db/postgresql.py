"""PostgreSQL's halves of ``allocations.db``: COPY, columns packed as binary, one-statement updates.

Each function has the signature of its twin in ``portable.py`` and gives the same answer (the
contract test, tests/allocations/db/, runs both on the same rows). Why each pays is measured in
bench/README.md. Every statement on a raw psycopg cursor (COPY, binary results) runs inside
``connection.wrap_database_errors``, so a dropped connection is Django's ``OperationalError``
(a 503 with Retry-After from the API, a retry in a task), as on Django's own cursors.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import psycopg
from django.db import OperationalError, connection, models

from allocations.audit_canonical import ChainStart, cents_text
from allocations.audit_chain import normalise_payload
from allocations.models import AllocationLine, AuditEntry, Fund, ReturnsPanelSnapshot, Strategy, StrategyReturn
from allocations.models.audit import EFFECTIVE_TIME_SQL
from allocations.panel_snapshot import EPOCH_ORDINAL, PanelSnapshot, snapshot_decode

from .portable import LINE_COLUMNS

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout


# --- COPY ------------------------------------------------------------------------------------------


def copy_field(value) -> str:
    """One value of a row of COPY's text format (``\\N`` for NULL, special characters escaped)."""
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _columns(model: type[models.Model], names: Sequence[str]) -> tuple[str, str]:
    table = connection.ops.quote_name(model._meta.db_table)
    return table, ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in names)


def copy_text(model: type[models.Model], columns: Sequence[str], text: str) -> None:
    """Stream ``text`` (rows of COPY's text format, ``columns`` in order) into ``model``'s table."""
    table, names = _columns(model, columns)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            copy.write(text)


def _json_text(value) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, (list, dict)):  # most flags and payloads: no encoder call
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def bulk_insert(model: type[models.Model], rows: Sequence[dict]) -> None:
    """COPY FROM STDIN, psycopg adapting value by value (``bulk_create`` spends most of a second
    building the SQL of 1,000 wide rows)."""
    if not rows:
        return
    names = list(rows[0])
    fields = [model._meta.get_field(name[:-3] if name.endswith("_id") and name != "id" else name) for name in names]
    table, columns = _columns(model, [f.name for f in fields])
    json_at = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = [row[name] for name in names]
                for i in json_at:
                    values[i] = _json_text(values[i])
                copy.write_row(values)


AUDIT_COLUMNS = (
    "portfolio", "kind", "created_at", "effective_at", "strategy", "run", "step", "old_amount", "new_amount",
    "total_capital", "actor", "actor_label", "reason", "payload", "prev_hash", "entry_hash", "seq",
)  # fmt: skip


def audit_rows_insert(records: Sequence, start: ChainStart) -> str:
    """Chain and COPY in one pass: each row's amounts are formatted once, for its hash and for the
    database alike, and what rows of one kind, reason, run, step and payload share is encoded once
    (for a rebalance's thousand fund changes, everything but the strategy and the three amounts)."""
    shared: dict[tuple, tuple[str, str, str]] = {}
    who = f"{copy_field(start.actor_id)}\t{copy_field(start.actor_label)}\t"
    effective = None if start.effective_at is None else start.effective_at.isoformat()
    times = f"{start.now.isoformat()}\t{copy_field(effective)}"
    portfolio_id, canonical, hasher = start.portfolio_id, start.canonical, start.hasher
    prev_hash, seq, lines = start.prev_hash, start.seq, []
    for record in records:
        payload = record.payload
        payload_text = "{}"
        if payload:
            payload_text = json.dumps(
                normalise_payload(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
        key = (record.kind, record.reason, record.run_id, record.step_id, payload_text)
        parts = shared.get(key)
        if parts is None:
            parts = shared[key] = (
                f"{portfolio_id}\t{copy_field(record.kind)}\t{times}\t",
                f"\t{copy_field(record.run_id)}\t{copy_field(record.step_id)}\t",
                f"\t{who}{copy_field(record.reason)}\t{copy_field(payload_text)}\t",
            )
        old, new, total = cents_text(record.old_amount), cents_text(record.new_amount), cents_text(record.total_capital)
        entry_hash = hasher(canonical.of_record(record, payload_text, old, new, total), prev_hash)
        seq += 1
        lines.append(
            f"{parts[0]}{copy_field(record.strategy_id)}{parts[1]}{copy_field(old)}\t{copy_field(new)}\t"
            f"{copy_field(total)}{parts[2]}{prev_hash}\t{entry_hash}\t{seq}\n"
        )
        prev_hash = entry_hash
    copy_text(AuditEntry, AUDIT_COLUMNS, "".join(lines))  # in list order: ids follow the chain
    return prev_hash


def allocation_lines_insert(columns: dict[str, list]) -> None:
    """The run's lines as COPY text built column by column (``repr`` of a float is its exact text)."""
    text = {
        "run": [str(v) for v in columns["run"]],
        "strategy": [str(i) for i in columns["strategy"]],
        "target_amount": [str(a) for a in columns["target_amount"]],
        "momentum_weight": ["\\N" if w is None else repr(w) for w in columns["momentum_weight"]],
        "binding_limit": [copy_field(v) for v in columns["binding_limit"]],
        "flags": [copy_field(json.dumps(f)) if f else "[]" for f in columns["flags"]],
    }
    cells = [text[name] if name in text else list(map(repr, columns[name])) for name in LINE_COLUMNS]
    copy_text(AllocationLine, LINE_COLUMNS, "".join(f"{row}\n" for row in map("\t".join, zip(*cells, strict=True))))


# --- one-statement writes ----------------------------------------------------------------------------


def fund_amounts_update(pairs: list[tuple[int, Decimal]], now: datetime) -> None:
    """One UPDATE FROM unnest; the arrays go as two comma-separated strings (quoting 1,000 Decimals
    one by one costs more; ``bulk_update``'s CASE takes about a second for 1,000 rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Fund._meta.db_table} AS f SET amount = v.amount, updated_at = %s "
            "FROM unnest(string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')::numeric[]) "
            "AS v(strategy_id, amount) WHERE f.strategy_id = v.strategy_id",
            [now, ",".join(str(int(p[0])) for p in pairs), ",".join(str(p[1]) for p in pairs)],
        )


def row_lock(queryset: models.QuerySet, *, timeout_ms: int):
    """``select_for_update().get()`` waiting at most ``timeout_ms`` (``SET LOCAL``: until the transaction
    ends); ``None`` when the wait ran out."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
    try:
        return queryset.select_for_update().get()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return None
        raise


def returns_snapshot_store(portfolio_id: int, fields: dict[str, bytes], now: datetime) -> None:
    """Delete and insert with ``%b``: the bytes go as binary, not as hex text."""
    table = ReturnsPanelSnapshot._meta.db_table
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE portfolio_id = %s", [portfolio_id])
        cursor.execute(
            f'INSERT INTO {table} (portfolio_id, strategy_ids, days, "values", updated_at) VALUES (%s, %b, %b, %b, %s)',
            [portfolio_id, fields["strategy_ids"], fields["days"], fields["values"], now],
        )


# --- reads packed as binary ---------------------------------------------------------------------------


def _unpack(*packed: bytes | None, dtypes: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Columns packed by ``string_agg(<type>send(...))`` as big-endian arrays, empty for no rows."""
    if packed[0] is None:
        return tuple(np.empty(0, np.int64 if d[1] == "i" else float) for d in dtypes)
    return tuple(
        np.frombuffer(p, dtype=d).astype(np.int64 if d[1] == "i" else float)
        for p, d in zip(packed, dtypes, strict=True)
    )


def returns_rows_since(ids: list[int], since: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column packed into one bytea (``int8send``, ``int4send``, ``float8send``): 250,000 returns
    cross the wire as one row that numpy reads in place; as rows they cost most of a second."""
    sql = (
        "SELECT string_agg(int8send(strategy_id), ''::bytea), "
        "string_agg(int4send((date - DATE '1970-01-01')::integer), ''::bytea), "
        "string_agg(float8send(value), ''::bytea) "
        f"FROM {StrategyReturn._meta.db_table} WHERE strategy_id = ANY(%s) AND date >= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, since or date(1, 1, 1)])
        packed = cursor.fetchone()
    strategy_ids, days, values = _unpack(*packed, dtypes=(">i8", ">i4", ">f8"))
    return strategy_ids, days + EPOCH_ORDINAL, values


def momentum_of_run(run_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed as binary like the returns: the doubles exactly, no row objects."""
    sql = (
        "SELECT string_agg(int8send(strategy_id), ''::bytea), string_agg(float8send(momentum_weight), ''::bytea) "
        f"FROM {AllocationLine._meta.db_table} WHERE run_id = %s AND momentum_weight IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id])
        packed = cursor.fetchone()
    return _unpack(*packed, dtypes=(">i8", ">f8"))


def fund_changes(portfolio_id: int, zone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column one bytea of big-endian values: a 1,000-strategy book has tens of thousands of rows."""
    sql = (
        f"SELECT string_agg(int4send((({EFFECTIVE_TIME_SQL} AT TIME ZONE %s)::date - DATE '1970-01-01')::integer), "
        "''::bytea ORDER BY seq), string_agg(int8send(strategy_id), ''::bytea ORDER BY seq), "
        "string_agg(float8send(COALESCE(new_amount, 0)::float8), ''::bytea ORDER BY seq) "
        f"FROM {AuditEntry._meta.db_table} WHERE portfolio_id = %s AND kind = %s AND strategy_id IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [zone, portfolio_id, AuditEntry.Kind.FUND_CHANGE.value])
        packed = cursor.fetchone()
    days, ids, amounts = _unpack(*packed, dtypes=(">i4", ">i8", ">f8"))
    return days + EPOCH_ORDINAL, ids, amounts


# --- the returns snapshot, kept per process under its row's version ------------------------------------


class _SnapshotCache:
    """The snapshots this process read last, each under its row's version (``xmin``, which every write
    of the row changes, and ``updated_at``). A read asks the database for the version first and fetches
    the row only when it differs from the one kept (bench/db_paths.py: the kept snapshot is read 30 to
    500 times faster). Arrays kept are read-only; a few portfolios are kept (the least recent
    goes first), at most ``MAX_BYTES`` of them."""

    MAX_ENTRIES = 8
    MAX_BYTES = 64 * 2**20

    def __init__(self) -> None:
        self._entries: OrderedDict[int, tuple[tuple, PanelSnapshot]] = OrderedDict()
        self._lock = threading.Lock()  # the web server's threads share it

    def get(self, portfolio_id: int, version: tuple) -> PanelSnapshot | None:
        with self._lock:
            entry = self._entries.get(portfolio_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(portfolio_id)
            return entry[1]

    def put(self, portfolio_id: int, version: tuple, snapshot: PanelSnapshot) -> None:
        for array in (snapshot.ids, snapshot.days, snapshot.values):
            array.setflags(write=False)
        with self._lock:
            self._entries[portfolio_id] = (version, snapshot)
            self._entries.move_to_end(portfolio_id)
            while len(self._entries) > self.MAX_ENTRIES or (
                len(self._entries) > 1 and sum(s.values.nbytes for _, s in self._entries.values()) > self.MAX_BYTES
            ):
                self._entries.popitem(last=False)


SNAPSHOTS = _SnapshotCache()


def returns_snapshot_get(portfolio_id: int | None, ids: np.ndarray | None) -> PanelSnapshot | None:
    """One fetch in PostgreSQL's binary format: the bytea arrives as its bytes (the text format
    doubles them as hex, and decoding that costs more than the transfer). Without ``portfolio_id``,
    the portfolio of the first id, if every id belongs to it. With it, the row's version is read
    first and a snapshot this process already holds at that version is answered (``_SnapshotCache``)."""
    table, strategies = ReturnsPanelSnapshot._meta.db_table, Strategy._meta.db_table
    connection.ensure_connection()
    if portfolio_id is not None:
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(f"SELECT xmin::text, updated_at FROM {table} WHERE portfolio_id = %s", [portfolio_id])
            version = cursor.fetchone()
        if version is None:
            return None
        kept = SNAPSHOTS.get(portfolio_id, version)
        if kept is not None:
            return kept
    columns = f'p.strategy_ids, p.days, p."values", p.xmin::text, p.updated_at FROM {table} p'
    if portfolio_id is not None:
        sql, params = f"SELECT {columns} WHERE p.portfolio_id = %s", [portfolio_id]
    else:
        sql = (
            f"SELECT {columns} WHERE p.portfolio_id = (SELECT portfolio_id FROM {strategies} WHERE id = %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {strategies} o WHERE o.id = ANY(%s) AND o.portfolio_id <> p.portfolio_id)"
        )
        params = [int(ids[0]), ids.tolist()]
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:  # binary results
        cursor.execute(sql, params, binary=True)
        row = cursor.fetchone()
    if row is None:
        return None
    snapshot = snapshot_decode(*row[:3])
    if portfolio_id is not None:
        SNAPSHOTS.put(portfolio_id, (row[3], row[4]), snapshot)
    return snapshot
