from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("whatsapp_login", "0002_identities"),
    ]

    operations = [
        migrations.AddField(
            model_name="loginattempt",
            name="client_place",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="loginattempt",
            name="notice_message_id",
            field=models.CharField(blank=True, db_index=True, max_length=128),
        ),
    ]
