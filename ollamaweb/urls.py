from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "ollamaweb administration"
admin.site.site_title = "ollamaweb"
admin.site.site_url = "/"

urlpatterns = [
    path("", include("compat.urls")),
    path("", include("ollamaweb.metrics.urls")),
    path("admin/", admin.site.urls),
    path("", include("ollamaweb.portal.urls")),
]
