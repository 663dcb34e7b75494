from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from allocations.views import health

admin.site.site_header = "Capital Allocation Engine"
admin.site.site_title = "Capital Allocation Engine"
admin.site.index_title = "Risk administration"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
]
