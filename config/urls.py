from django.contrib import admin
from django.urls import include, path

from core.views import favicon, token_page

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("api/", include("config.api_urls")),
    path("account/token/", token_page, name="api-token-page"),
    path("", include("feedback.urls")),
    path("", include("training.urls")),
]

handler404 = "core.views.not_found"
