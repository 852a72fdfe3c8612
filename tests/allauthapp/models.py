from django.conf import settings
from django.db import models


class PhoneNumber(models.Model):
    """Where this project keeps allauth's phone numbers (allauth leaves that to the site).

    Not unique on purpose: the tests need two accounts on one number.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    phone = models.CharField(max_length=20, db_index=True)
    verified = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.phone
