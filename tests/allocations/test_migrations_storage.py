"""Migrations 0015 and 0016: lz4 for the large JSON columns a rebalance writes, room on the fund table's pages."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

migration = importlib.import_module("allocations.migrations.0015_large_json_lz4")


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_large_json_columns_compress_with_lz4():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL server is built without lz4: the migration leaves its default")
        for table, column in migration.COLUMNS:
            cursor.execute(
                "SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
                [table, column],
            )
            assert cursor.fetchone()[0] == "l", (table, column)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_fund_table_leaves_room_for_its_rows_new_versions():
    """Migration 0016: fillfactor 70 on the fund table, so a rebalance's fund updates can stay on their page."""
    fillfactor = importlib.import_module("allocations.migrations.0016_fund_fillfactor").FILLFACTOR
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'allocations_fund'::regclass")
        assert f"fillfactor={fillfactor}" in (cursor.fetchone()[0] or [])
