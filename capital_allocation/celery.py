"""The Celery app, configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

# A server or worker started without DJANGO_SETTINGS_MODULE gets the production settings (no insecure
# defaults); `make run` and the Procfile name the local settings explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capital_allocation.settings.production")

app = Celery("capital_allocation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _warm_and_freeze(**kwargs) -> None:
    """A worker (before it forks its pool, and each pool process after) starts with its startup objects
    out of the collector's sight (``capital_allocation.warmup``)."""
    from capital_allocation.warmup import warm_and_freeze

    warm_and_freeze()
