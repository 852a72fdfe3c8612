"""The test project of the django-allauth integration (settings: tests.settings_allauth)."""
