from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "ollamaweb administration"
admin.site.site_title = "ollamaweb"

urlpatterns = [
    path("", include("compat.urls")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
