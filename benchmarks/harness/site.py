"""The benchmark site (benchmarks/benchsite): Django in this process, gunicorn servers,
databases, test data, and the versions the page reports."""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
from importlib import metadata
from pathlib import Path

from . import CHROMIUM, HERE, ROOT, TOKEN, USERS
from .payloads import phone_of

#: Distribution names whose installed versions the page prints.
DISTRIBUTIONS = (
    "django-whatsapp-login",
    "Django",
    "django-allauth",
    "django-sesame",
    "gunicorn",
    "psycopg",
    "redis",
    "playwright",
)


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
    os.environ["GREEN_API_WEBHOOK_TOKEN"] = TOKEN
    import django

    django.setup()


def server_env(database_url: str, mail_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a gunicorn server of the benchmark site."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "WHATSAPP_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchsite.settings",
            "DATABASE_URL": database_url,
            "GREEN_API_WEBHOOK_TOKEN": TOKEN,
            "BENCH_MAIL_DIR": mail_dir,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
        }
    )
    env.update(extra)
    return env


def populate(users: int = USERS) -> None:
    """Migrate the current database and create users u1..u<users> with phones."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    User = get_user_model()
    User.objects.bulk_create(
        [
            User(username=f"u{i}", email=f"u{i}@example.com", phone=phone_of(i), password="!")
            for i in range(1, users + 1)
        ]
    )


def make_attempts(count: int) -> list[str]:
    """Pending attempts created straight in the database; returns their codes."""
    from datetime import timedelta

    from django.utils import timezone

    from django_whatsapp_login.attempts import generate_code, hash_secret
    from django_whatsapp_login.models import LoginAttempt

    now = timezone.now()
    codes = [generate_code() for _ in range(count)]
    LoginAttempt.objects.bulk_create(
        [
            LoginAttempt(
                code_hash=hash_secret(c),
                binding_hash=hash_secret(secrets.token_hex(16)),
                created_at=now,
                expires_at=now + timedelta(seconds=600),
            )
            for c in codes
        ],
        batch_size=1000,
    )
    return codes


def confirmed_count(codes: list[str]) -> int:
    """How many of these attempts the database holds as confirmed (or already consumed)."""
    from django_whatsapp_login.attempts import hash_secret
    from django_whatsapp_login.models import LoginAttempt, Status

    hashes = [hash_secret(c) for c in codes]
    total = 0
    for start in range(0, len(hashes), 1000):
        total += LoginAttempt.objects.filter(
            code_hash__in=hashes[start : start + 1000],
            status__in=[Status.CONFIRMED, Status.CONSUMED],
        ).count()
    return total


def installed(distribution: str) -> str:
    """The installed version of a distribution, or "unknown"."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _run(*args: str) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def commit() -> str:
    """The commit measured, with "+ local changes" when the tree differs from it."""
    sha = _run("git", "rev-parse", "--short=12", "HEAD")
    if not sha:
        return "unknown"
    dirty = _run("git", "status", "--porcelain", "--untracked-files=no")
    return sha + (" + local changes" if dirty else "")


def machine(with_database: bool = True) -> dict[str, str]:
    """The machine and the software versions measured; "unknown" for what cannot be read."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram = f"{int(Path('/proc/meminfo').read_text().split()[1]) // 1024 // 1024} GiB"
    except (OSError, ValueError, IndexError):
        ram = "unknown"
    pg = "unknown"
    if with_database:
        try:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                pg = cursor.fetchone()[0]
        except Exception:
            pg = "unknown"
    info = {
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg,
    }
    for name in DISTRIBUTIONS:
        info[name] = installed(name)
    info["chromium"] = _run(CHROMIUM, "--version") or "unknown"
    return info
