from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A custom user model, as real projects have, with an indexed E.164 phone."""

    phone = models.CharField(max_length=20, blank=True, db_index=True)
