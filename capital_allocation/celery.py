"""The Celery app, configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery

# A server or worker started without DJANGO_SETTINGS_MODULE gets the production settings (no insecure
# defaults); `make run` and the Procfile name the local settings explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capital_allocation.settings.production")

app = Celery("capital_allocation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
