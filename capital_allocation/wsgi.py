import os

from django.core.wsgi import get_wsgi_application

# A server or worker started without DJANGO_SETTINGS_MODULE gets the production settings (no insecure
# defaults); `make run` and the Procfile name the local settings explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capital_allocation.settings.production")
application = get_wsgi_application()

from capital_allocation.warmup import warm_and_freeze  # noqa: E402 - needs the application's settings

warm_and_freeze()
