from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A custom user model, as real projects have, with an indexed E.164 phone."""

    phone = models.CharField(max_length=20, blank=True, db_index=True)


class Tenant(models.Model):
    """The resolver how-to's model (docs/resolvers.md), exercised by tests/test_docs.py."""

    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=32, unique=True)  # E.164; unique, hence indexed
    user = models.OneToOneField("testapp.User", on_delete=models.CASCADE)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from django_whatsapp_login.phone import normalize_phone

        self.phone = normalize_phone(self.phone)
        super().save(*args, **kwargs)
