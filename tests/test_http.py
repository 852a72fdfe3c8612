"""gateways/http.py: the HTTP helpers both gateway clients share."""

from __future__ import annotations

import logging

import pytest
import requests

from django_whatsapp_login.gateways import http
from django_whatsapp_login.gateways.cloudapi import client as cloud_client
from django_whatsapp_login.gateways.greenapi import client as green_client


def test_both_clients_use_the_one_copy():
    assert green_client.redact is http.redact
    assert cloud_client.redact is http.redact
    assert issubclass(green_client.GreenAPIClient, http.SessionClient)
    assert issubclass(cloud_client.CloudAPIClient, http.SessionClient)


def test_a_remembered_secret_is_redacted_everywhere(caplog):
    secret = "fake-secret-for-test-http-0123456789"
    assert http.redact(f"GET /x/{secret}") == f"GET /x/{secret}"
    http.remember_secret(secret)
    http.remember_secret("")  # nothing to hide: "" would otherwise replace everything
    assert http.redact(f"GET /x/{secret}") == "GET /x/***"
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logging.getLogger("urllib3.connectionpool").debug("GET /%s HTTP/1.1", secret)
    assert secret not in caplog.text and "GET /*** HTTP/1.1" in caplog.text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.example.com", ""),
        ("http://127.0.0.1:8000", ""),
        ("http://localhost", ""),
        ("http://[::1]:9", ""),
        ("http://api.example.com", "http://api.example.com is plain http: it leaks"),
        ("ftp://api.example.com", "'ftp://api.example.com' is not an http(s) URL"),
        ("https://", "'https://' is not an http(s) URL"),
    ],
)
def test_insecure_url_problem(url, problem):
    assert http.insecure_url_problem(url, "it leaks") == problem


def _answer(retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


@pytest.mark.parametrize(
    ("header", "at_most", "seconds"),
    [
        ("3", 30.0, 3.0),
        ("120", 30.0, 30.0),
        ("120", float("inf"), 120.0),
        ("-5", 30.0, 0.0),
        ("nan", 30.0, None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 30.0, None),
        (None, 30.0, None),
    ],
)
def test_retry_after(header, at_most, seconds):
    assert http.retry_after(_answer(header), at_most=at_most) == seconds


def test_new_session_says_who_it_is_and_keeps_a_given_one():
    with http.new_session() as session:
        assert session.headers["User-Agent"] == http.USER_AGENT
    given = requests.Session()
    given.headers["User-Agent"] = "integrator/1"
    assert http.new_session(given) is given
    assert given.headers["User-Agent"] == "integrator/1"
    given.close()
