"""Request context: a request id on every log line and in the answer, one request line, latency by view."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from capital_allocation import logs, metrics

request_logger = logging.getLogger("capital_allocation.request")

REQUEST_ID_HEADER = "X-Request-ID"


def _user_label(request) -> str | None:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return user.get_username()
    return None


def _view_label(request) -> str:
    """The URL's name (``api:allocation-current``), else its route; static files and 404s are grouped."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    if request.path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/"):
        return "static"
    return "unmatched"


class RequestContextMiddleware:
    """First in the chain: takes ``X-Request-ID`` (or makes one), binds it for the whole request, echoes it.

    The portfolio (the URL's ``slug``) and the user are bound as soon as they are known, so the
    lines a view writes carry them; the request line at the end has the status, the view and the
    time taken. The path is logged without its query string (it is the client's, and could hold
    anything).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = logs.request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = logs.new_context(request_id=request_id)
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            view = _view_label(request)
            logs.bind(user=_user_label(request))  # a token-authenticated user is known only after the view
            metrics.REQUEST_LATENCY.labels(view, request.method).observe(elapsed)
            metrics.REQUESTS.labels(view, request.method, str(response.status_code)).inc()
            response[REQUEST_ID_HEADER] = request_id
            level = logging.ERROR if response.status_code >= 500 else logging.INFO
            request_logger.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "view": view,
                    "duration_ms": round(elapsed * 1000.0, 2),
                    # the CPU of the thread serving it: this request's own, with threads per worker too
                    "cpu_ms": round((time.thread_time() - cpu_started) * 1000.0, 2),
                },
            )
            return response
        finally:
            logs.reset_context(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        logs.bind(portfolio=view_kwargs.get("slug"), user=_user_label(request))
        return None
