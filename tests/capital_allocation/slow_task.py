"""A task for the worker tests that runs as long as it is told and leaves a file (``<marker>.started``)
when it starts and one (``<marker>``) when it ends.

Imported by the test worker alone (``celery worker -I tests.capital_allocation.slow_task``), never by the service.
"""

import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.slow_task")
def slow_task(seconds: float, marker: str) -> None:
    Path(f"{marker}.started").write_text("started")
    time.sleep(seconds)
    Path(marker).write_text("done")
