from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The benchmark's user: email (allauth, sesame) and an indexed E.164 phone (ours)."""

    phone = models.CharField(max_length=20, blank=True, db_index=True)
