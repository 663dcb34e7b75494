# The service's image: the web server (default command), the Celery worker and beat (compose.yaml).
# The same install as `make install`: pyproject.toml's dependencies (pip) and package-lock.json's charting
# library copied into static/vendor/ (npm); the static files are collected at build time.
# Runs as an unprivileged user; the production settings need SECRET_KEY, AUDIT_HMAC_KEY and ALLOWED_HOSTS.

FROM node:22-bookworm-slim AS vendor
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
    && mkdir -p static/vendor \
    && cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE static/vendor/

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=capital_allocation.settings.production \
    WEB_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/run/cae/prometheus
# psql / pg_dump for deploy/service_role.sql and deploy/backup.sh
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin cae
WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY capital_allocation capital_allocation
COPY allocations allocations
COPY accounts accounts
RUN pip install -e .
COPY deploy deploy
COPY templates templates
COPY static static
COPY --from=vendor /src/static/vendor static/vendor
# Hashed, compressed static files for whitenoise; the keys here only let the settings load for the build.
RUN SECRET_KEY=collectstatic-only-not-a-secret-0123456789abcdefghijklmnopqrstuv \
    AUDIT_HMAC_KEY=collectstatic-only-not-a-secret-0123456789 ALLOWED_HOSTS=build \
    CELERY_BROKER_URL=memory:// python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /run/cae/prometheus \
    && chown -R cae /run/cae
USER cae
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD python -c "\
import os, urllib.request as u; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].lstrip('.*'); \
u.urlopen(u.Request('http://127.0.0.1:8000/health/', headers={'Host': host, 'X-Forwarded-Proto': 'https'}), timeout=4)"
CMD ["python", "deploy/web.py"]
