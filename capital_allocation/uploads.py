"""Multipart file parts count against ``DATA_UPLOAD_MAX_MEMORY_SIZE`` too.

Django applies that limit to a request's form fields, not to its files: the next upload handlers
keep those in memory or write them to a temporary file as they arrive, however large. This
handler comes first in ``FILE_UPLOAD_HANDLERS`` and stops the upload with ``RequestDataTooBig``
(413 from the API) as soon as the file parts of one request pass the limit, before that chunk
reaches a handler that stores it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class BoundedUploadHandler(FileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0  # handlers are made per request: this counts every file part of it

    def receive_data_chunk(self, raw_data, start):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        self.received += len(raw_data)
        if limit is not None and self.received > limit:
            raise RequestDataTooBig(f"The files of this request are larger than {limit} bytes.")
        return raw_data

    def file_complete(self, file_size):
        return None  # the handlers after this one make the file
