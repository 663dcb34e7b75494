"""Multipart file parts count against ``DATA_UPLOAD_MAX_MEMORY_SIZE`` before they are stored.

The API takes no file, so it refuses multipart outright (415, nothing read); the upload handler
guards the Django views that still read multipart (the admin's forms, the sign-in page).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework.test import APIClient

TOKEN_URL = "/api/v1/auth/token/"
FORM_URL = "/admin/login/"  # a Django form view: it reads multipart through the upload handlers
LIMIT = 4096

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limit_and_stored_bytes(settings, monkeypatch, tmp_path):
    """Files go straight to temporary files under tmp_path; ``stored`` counts the bytes written there."""
    cache.clear()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # no file is kept in memory: every byte is stored on disk
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    stored = []
    original = TemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        stored.append(len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", counting)
    yield stored
    cache.clear()


def _post_files(url: str, *sizes: int):
    files = {f"file{n}": SimpleUploadedFile(f"f{n}.bin", b"x" * size) for n, size in enumerate(sizes)}
    return APIClient().post(url, {"username": "nobody", "password": "wrong", **files}, format="multipart")


def test_the_api_refuses_multipart_before_storing_a_byte(_small_limit_and_stored_bytes):
    """Issue 8 item 5: a 200 MB anonymous upload to the token endpoint was written to disk, then answered 400."""
    response = _post_files(TOKEN_URL, LIMIT * 50)
    assert response.status_code == 415
    assert sum(_small_limit_and_stored_bytes) == 0


def test_an_oversize_file_part_is_refused_before_it_is_stored(_small_limit_and_stored_bytes):
    response = _post_files(FORM_URL, LIMIT * 50)
    assert response.status_code in (400, 413)
    assert sum(_small_limit_and_stored_bytes) <= LIMIT


def test_file_parts_of_one_request_count_together(_small_limit_and_stored_bytes):
    response = _post_files(FORM_URL, LIMIT // 2 + 1, LIMIT // 2 + 1)
    assert response.status_code in (400, 413)
    assert sum(_small_limit_and_stored_bytes) <= LIMIT


def test_a_file_part_within_the_limit_reaches_the_view(_small_limit_and_stored_bytes):
    response = _post_files(FORM_URL, LIMIT // 2)
    assert response.status_code == 200  # the sign-in form ran and answered: wrong credentials
    assert sum(_small_limit_and_stored_bytes) == LIMIT // 2
