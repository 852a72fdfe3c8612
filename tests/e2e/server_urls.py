"""The example project's URLs plus the static files (for gunicorn in the browser tests)."""

from config.urls import urlpatterns as project_urlpatterns
from django.contrib.staticfiles.views import serve
from django.urls import re_path

urlpatterns = [
    *project_urlpatterns,
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]
