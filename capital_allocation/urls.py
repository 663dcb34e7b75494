from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from capital_allocation.health import health
from capital_allocation.metrics import metrics

admin.site.site_header = "Capital Allocation Engine"
admin.site.site_title = "Capital Allocation Engine"
admin.site.index_title = "Risk administration"

urlpatterns = [
    path("", include("allocations.pages.urls")),
    path("accounts/", include("accounts.page_urls")),
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/", include("accounts.urls")),
    path("api/v1/", include("allocations.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script comes from a URL of its own (?script), not inline; its page and
    # widgets carry inline styles, allowed on this page only.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
]

handler404 = "capital_allocation.problems.not_found"
handler500 = "capital_allocation.problems.server_error"
