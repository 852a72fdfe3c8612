"""An email backend shared by every gunicorn worker: one file per recipient, overwritten.

The load clients read the code (allauth) or the link (sesame) from it, as a person reads
their inbox. Writing a small file is about as cheap as handing a message to a local MTA.
"""

from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend


class RecipientFileBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        directory = Path(settings.BENCH_MAIL_DIR)
        for message in email_messages:
            for recipient in message.recipients():
                (directory / f"{recipient}.txt").write_text(message.body)
        return len(email_messages)
