"""The documentation is checked against the code: every Python sample compiles, the resolver
and signal how-tos run, and every setting, command, option, check id and URL name the docs
mention exists (and the reference pages list all of them)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.test import override_settings
from django.urls import get_resolver

from django_whatsapp_login import signals
from django_whatsapp_login.exceptions import AmbiguousPhone

from .conftest import incoming, start

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def blocks(language: str, pages: list[Path] = PAGES) -> list[tuple[str, str]]:
    """``(page, code)`` of every fenced block in ``language``, list-item ones dedented."""
    found = []
    for page in pages:
        for indent, lang, code in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang == language:
                lines = [line[len(indent) :] for line in code.splitlines(keepends=True)]
                found.append((str(page.relative_to(ROOT)), "".join(lines)))
    return found


def block_starting(page: str, first_line: str) -> str:
    for _, code in blocks("python", [DOCS / page]):
        if code.startswith(first_line):
            return code
    raise AssertionError(f"no python block starting with {first_line!r} in {page}")


def as_module(name: str, code: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(code, name, "exec"), module.__dict__)  # noqa: S102  (our own docs)
    return module


def test_the_docs_have_samples():
    assert len(blocks("python")) >= 10
    assert len(blocks("sh")) >= 10


@pytest.mark.parametrize(("page", "code"), blocks("python"))
def test_python_sample_compiles(page, code):
    compile(code, page, "exec")


# --- the resolver how-to, run against the test database -------------------------------


@pytest.fixture
def docs_resolver():
    code = block_starting("resolvers.md", "# core/resolvers.py")
    assert "from .models import Tenant" in code
    module = as_module(
        "tests._docs_resolvers",
        code.replace("from .models import Tenant", "from tests.testapp.models import Tenant"),
    )
    yield module.tenant_resolver
    del sys.modules["tests._docs_resolvers"]


def test_the_docs_tenant_model_is_the_tested_one():
    code = block_starting("resolvers.md", "# core/models.py")
    for field in (
        "name = models.CharField(max_length=200)",
        "phone = models.CharField(max_length=32, unique=True)",
        "user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)",
        "self.phone = normalize_phone(self.phone)",
    ):
        assert field in code


@pytest.mark.django_db
def test_resolver_example_finds_the_tenants_user(docs_resolver, make_user):
    from tests.testapp.models import Tenant

    user = make_user(phone="")
    Tenant.objects.create(name="Tenant", phone="+996 700 123 456", user=user)
    assert docs_resolver("+996700123456", attempt=None, request=None) == user
    assert docs_resolver("+996700999999", attempt=None, request=None) is None


@pytest.mark.django_db
def test_resolver_example_refuses_a_shared_number(docs_resolver, monkeypatch):
    from tests.testapp.models import Tenant

    def several(**kwargs):
        raise Tenant.MultipleObjectsReturned

    monkeypatch.setattr(
        Tenant.objects, "select_related", lambda *a: types.SimpleNamespace(get=several)
    )
    with pytest.raises(AmbiguousPhone):
        docs_resolver("+996700123456")


@pytest.mark.django_db
def test_login_through_the_resolver_example(docs_resolver, browser, webhook, make_user):
    from tests.testapp.models import Tenant

    user = make_user(phone="")
    Tenant.objects.create(name="Tenant", phone="+996700123456", user=user)
    with override_settings(WHATSAPP_LOGIN_USER_RESOLVER="tests._docs_resolvers.tenant_resolver"):
        code = start(browser)["code"]
        assert webhook.post(incoming(f"AMT LOGIN {code}")).status_code == 200
        assert browser.get("/whatsapp/status/").json()["status"] == "confirmed"
        response = browser.post("/whatsapp/complete/")
    assert response.status_code == 200
    assert browser.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db(transaction=True)
def test_signal_example_receives_the_documented_kwargs(browser, webhook):
    # Executing the sample connects its receiver; a signature that does not match the
    # documented kwargs would raise TypeError from send() below.
    module = as_module("tests._docs_signals", blocks("python", [DOCS / "signals.md"])[0][1])
    calls = []

    def spy(sender, attempt, reason, phone, **kwargs):
        calls.append((reason, phone))

    signals.attempt_rejected.connect(spy)
    try:
        code = start(browser)["code"]
        webhook.post(incoming(f"AMT LOGIN {code}", sender="996700999999@c.us"))
    finally:
        signals.attempt_rejected.disconnect(spy)
        signals.attempt_rejected.disconnect(module.alert_on_conflict)
        del sys.modules["tests._docs_signals"]
    assert calls == [("unknown_number", "+996700999999")]


# --- names the docs mention exist, and the reference pages are complete ----------------


def all_text() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in PAGES)


def setting_names() -> set[str]:
    """Every setting conf.py reads (``_get("NAME", default)``)."""
    source = (ROOT / "src" / "django_whatsapp_login" / "conf.py").read_text(encoding="utf-8")
    names = {f"WHATSAPP_LOGIN_{name}" for name in re.findall(r'_get\(\s*"([A-Z0-9_]+)"', source)}
    assert len(names) > 20
    return names


#: Environment variables of the test suite, not settings.
TEST_VARIABLES = (
    "WHATSAPP_LOGIN_ALLAUTH",
    "WHATSAPP_LOGIN_E2E",
    "WHATSAPP_LOGIN_RACE_REPEAT",
    "WHATSAPP_LOGIN_TEST",
    "WHATSAPP_LOGIN_WHEEL",
)


def test_every_setting_named_in_the_docs_exists():
    named = set(re.findall(r"WHATSAPP_LOGIN_[A-Z0-9_]*[A-Z0-9]", all_text()))
    prefixes = {"WHATSAPP_LOGIN_RATE_LIMIT"}  # as in WHATSAPP_LOGIN_RATE_LIMIT_*
    test_only = {n for n in named if n.startswith(TEST_VARIABLES)}
    assert named - setting_names() - prefixes - test_only == set()


def test_the_settings_reference_lists_every_setting():
    reference = (DOCS / "settings.md").read_text(encoding="utf-8")
    assert {name for name in setting_names() if f"`{name}`" not in reference} == set()


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for language in ("sh", "console"):
        for page, code in blocks(language):
            for line in code.splitlines():
                match = re.search(r"manage\.py (\w+)(.*)", line)
                if match:
                    found.append((page, match.group(1) + match.group(2)))
    return found


@pytest.mark.parametrize(("page", "command_line"), documented_commands())
def test_command_in_a_shell_sample_exists(page, command_line):
    name, *args = command_line.split()
    commands = get_commands()
    if name in ("demo_setup", "runserver", "createsuperuser", "shell"):
        return  # the example project's own, and Django's that need an installed app
    assert name in commands, f"{page}: {name}"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    known = {option for action in parser._actions for option in action.option_strings}
    for arg in args:
        if arg.startswith("--"):
            assert arg.split("=")[0] in known, f"{page}: {name} {arg}"


def test_every_command_has_a_reference_page():
    ours = sorted(name for name in get_commands() if name.startswith("whatsapp_login_"))
    reference = (DOCS / "commands.md").read_text(encoding="utf-8")
    assert ours and [name for name in ours if f"`{name}`" not in reference] == []


def test_every_check_id_is_documented_and_every_documented_id_exists():
    package = ROOT / "src" / "django_whatsapp_login"
    source = "".join(
        path.read_text(encoding="utf-8")
        for path in (
            package / "checks.py",
            package / "live.py",
            package / "contrib" / "allauth" / "checks.py",
        )
    )
    in_code = set(re.findall(r"whatsapp_login\.[EW]\d{3}", source))
    in_docs = set(re.findall(r"whatsapp_login\.[EW]\d{3}", (DOCS / "checks.md").read_text()))
    assert in_code and in_code == in_docs


def test_every_url_name_is_documented():
    names = {
        pattern.name
        for pattern in get_resolver("django_whatsapp_login.urls").url_patterns
        if pattern.name
    }
    reference = (DOCS / "endpoints.md").read_text(encoding="utf-8")
    assert names and {name for name in names if f"`{name}`" not in reference} == set()


# --- every document the project cites exists in the repository (issue 16) ----------------

_ROOT = Path(__file__).resolve().parent.parent
_URL = re.compile(r"https?://\S+")
_MD_NAME = re.compile(r"(?<![\w/.-])((?:\.\./|[\w-]+/)*[\w.-]*\w\.md)\b")
_SR = re.compile(r"\bSR-(\d+)\b")


def _cited_files() -> list[Path]:
    files = [_ROOT / "README.md"]
    for folder, patterns in (
        ("docs", ("*.md",)),
        ("src", ("*.py", "*.html", "*.txt", "*.js")),
        ("tests", ("*.py",)),
    ):
        for pattern in patterns:
            files += sorted((_ROOT / folder).rglob(pattern))
    # This module names missing files on purpose (the check's own test).
    this = Path(__file__).resolve()
    return [path for path in files if "__pycache__" not in path.parts and path != this]


#: Names that are mentioned on purpose without being in the repository.
_NOT_FILES_OF_THE_REPOSITORY = {
    "test-artifacts/benchmarks-quick.md",  # written by benchmarks/run.py --quick
    "benchmarks/NOTES.md",  # a test asserting that the removed file is no longer appended
    "q.md",  # a temporary file in tests/test_benchmarks.py
}


def _exists(name: str, where: Path) -> bool:
    if name in _NOT_FILES_OF_THE_REPOSITORY:
        return True
    bases = (where.parent, _ROOT, _ROOT / "docs", _ROOT / "docs" / "commands")
    return any((base / name).resolve().is_file() for base in bases)


def test_every_referenced_markdown_file_exists():
    """Links (``[x](flow.md)``) and mentions (``SECURITY.md``, ``docs/threat-model.md``) in the
    docs, the README, the package and the tests name files the repository has."""
    missing = []
    for path in _cited_files():
        text = _URL.sub("", path.read_text(encoding="utf-8"))
        for name in set(_MD_NAME.findall(text)):
            if not _exists(name, path):
                missing.append(f"{path.relative_to(_ROOT)}: {name}")
    assert missing == []


def test_the_reference_check_finds_a_missing_file(tmp_path):
    """The check above can fail: a mention of a file that is not there is reported."""
    page = tmp_path / "page.md"
    page.write_text("See SECURITY.md and [flow](flow.md), https://example.com/README.md.")
    found = set(_MD_NAME.findall(_URL.sub("", page.read_text())))
    assert found == {"SECURITY.md", "flow.md"}
    assert not _exists("SECURITY.md", page)
    assert _exists("flow.md", _ROOT / "docs" / "index.md")


def test_every_cited_requirement_is_in_the_threat_model():
    defined = set(_SR.findall((_ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")))
    assert {str(n) for n in range(1, 34)} <= defined
    cited = {
        f"{path.relative_to(_ROOT)}: SR-{number}"
        for path in _cited_files()
        for number in _SR.findall(path.read_text(encoding="utf-8"))
        if number not in defined
    }
    assert cited == set()


@pytest.mark.django_db
def test_the_install_logging_snippet_prints_the_lines_quickstart_promises(
    browser, webhook, make_user, capsys
):
    import logging
    import logging.config

    code = block_starting("install.md", "# settings.py")
    namespace: dict = {
        "BASE_DIR": ROOT,
        "os": types.SimpleNamespace(
            environ={"GREEN_API_WEBHOOK_TOKEN": "x", "GREEN_API_ID_INSTANCE": "1"}
        ),
    }
    exec(compile(code.replace("import os\n", ""), "install.md", "exec"), namespace)  # noqa: S102
    logger = logging.getLogger("django_whatsapp_login")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logging.config.dictConfig(namespace["LOGGING"])
    try:
        make_user(phone="+996555000000")
        body = start(browser)
        assert (
            webhook.post(incoming(f"AMT LOGIN {body['code']}", "996555000000@c.us")).status_code
            == 200
        )
        assert browser.post("/whatsapp/complete/").status_code == 200
        other = start(browser)
        webhook.post(incoming(f"AMT LOGIN {other['code']}", "996555000009@c.us"))
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    printed = capsys.readouterr().err
    promised = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    lines = re.findall(r"`(Login attempt \d+ [^`]+)`", promised)
    assert len(lines) >= 4
    for line in lines:
        shape = re.escape(line).replace(r"\ ", " ")
        shape = re.sub(r"attempt\\? \d+|attempt \d+", r"attempt \\d+", shape)
        assert re.search(shape, printed), (line, printed)
