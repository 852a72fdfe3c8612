from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Tenant


@login_required
def home(request: HttpRequest) -> HttpResponse:
    try:
        tenant = Tenant.objects.get(user=request.user)
    except Tenant.DoesNotExist:
        tenant = None  # e.g. the admin user, who logs in with a password
    return render(request, "core/home.html", {"tenant": tenant})
