"""Translations: the Russian catalogue is complete, compiled, and used by the pages."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from django.utils import translation

import django_whatsapp_login
from django_whatsapp_login.views import status_message

from .conftest import incoming

LOCALE = Path(django_whatsapp_login.__file__).parent / "locale"


def read_po(path: Path) -> dict[str, list[str]]:
    """``msgid -> [msgstr, ...]`` of a .po file (plural forms in order); header skipped."""
    fields: list[list[str]] = []  # [keyword, text] in file order, continuation lines joined
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            fields[-1][1] += ast.literal_eval(line)
        else:
            keyword, _, literal = line.partition(" ")
            fields.append([keyword, ast.literal_eval(literal)])
    entries: dict[str, list[str]] = {}
    msgid = ""
    for keyword, text in fields:
        if keyword == "msgid":
            msgid = text
        elif keyword.startswith("msgstr") and msgid:  # the header has an empty msgid
            entries.setdefault(msgid, []).append(text)
    return entries


def test_the_po_reader_reads_multiline_and_plural_entries(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: ru\\n"\n\n'
        'msgid ""\n"Long "\n"one"\nmsgstr ""\n"Длинная "\n"строка"\n\n'
        'msgid "one"\nmsgid_plural "many"\nmsgstr[0] "a"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    assert read_po(po) == {"Long one": ["Длинная строка"], "one": ["a", ""]}


def test_the_russian_catalogue_is_complete():
    entries = read_po(LOCALE / "ru" / "LC_MESSAGES" / "django.po")
    assert len(entries) > 40
    missing = [msgid for msgid, strings in entries.items() if not all(strings)]
    assert missing == []
    fuzzy = (LOCALE / "ru" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    assert "#, fuzzy" not in fuzzy


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_compiled_catalogue_matches_the_po_file(language):
    """The .mo that ships is compiled from the current .po (run compilemessages)."""
    folder = LOCALE / language / "LC_MESSAGES"
    entries = read_po(folder / "django.po")
    with (folder / "django.mo").open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    for msgid, strings in entries.items():
        if not strings[0]:
            continue  # English is the source language: empty msgstr means "as written"
        key = (msgid, 0) if len(strings) > 1 else msgid
        assert catalog.get(key) == strings[0], msgid


@pytest.mark.django_db
def test_login_page_in_russian(browser, settings):
    settings.LANGUAGE_CODE = "ru"
    response = browser.get("/whatsapp/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="ru">' in html
    assert "Войти через WhatsApp" in html
    assert "Открыть WhatsApp" in html
    assert "Ждём ваше сообщение в WhatsApp…" in html
    assert "Log in with WhatsApp" not in html


@pytest.mark.django_db
def test_login_page_in_english_by_default(browser, settings):
    settings.LANGUAGE_CODE = "en-us"
    html = browser.get("/whatsapp/").content.decode()
    assert "Log in with WhatsApp" in html and "Войти через WhatsApp" not in html


@pytest.mark.django_db
def test_status_messages_in_russian(browser, webhook, make_user, settings):
    settings.LANGUAGE_CODE = "ru"
    browser.get("/whatsapp/")
    code = browser.session["_whatsapp_login"]["code"]
    webhook.post(incoming(f"AMT LOGIN {code}", sender="996700999999@c.us"))  # nobody's number
    body = browser.get("/whatsapp/status/").json()
    assert body["status"] == "rejected"
    assert body["status_message"] == "Этот номер не зарегистрирован."


def test_every_status_sentence_is_translated():
    with translation.override("ru"):
        for status, reason in [
            ("pending", ""),
            ("confirmed", ""),
            ("expired", ""),
            ("rejected", "unknown_number"),
            ("rejected", "inactive_user"),
            ("rejected", "conflicting_sender"),
            ("rejected", "lid_sender"),
            ("rejected", "conflicting_ids"),
            ("rejected", "unreadable_sender"),
            ("rejected", "several_users"),
            ("rejected", "rate_limited"),
            ("rejected", "anything_else"),
        ]:
            sentence = status_message(status, reason)
            cyrillic = [char for char in sentence if "\u0400" <= char <= "\u04ff"]
            assert len(cyrillic) > 5, (status, reason)
