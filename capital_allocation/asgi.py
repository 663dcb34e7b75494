import os

from django.core.asgi import get_asgi_application

# A server or worker started without DJANGO_SETTINGS_MODULE gets the production settings (no insecure
# defaults); `make run` and the Procfile name the local settings explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capital_allocation.settings.production")
application = get_asgi_application()
