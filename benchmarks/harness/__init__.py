"""What every figure shares: paths, the benchmark site's constants, and the helpers in the
modules next to this one (``venv``, ``prereqs``, ``site``, ``payloads``, ``clients``,
``runner``, ``report``).

Only the standard library is imported at module level anywhere in this package, so the
runner can check prerequisites and build its venv before Django or psycopg exist.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
ROOT = HERE.parent
RUN_PY = HERE / "run.py"
ARTIFACTS = ROOT / "test-artifacts"
DOCS_PAGE = ROOT / "docs" / "benchmarks.md"
QUICK_PAGE = ARTIFACTS / "benchmarks-quick.md"

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CHROMIUM = os.environ.get("WL_BENCH_CHROMIUM", "/usr/bin/chromium")

# Shared with the child processes (servers, browser, resolver) through the environment.
TOKEN = os.environ.setdefault("WL_BENCH_TOKEN", "bench-" + secrets.token_urlsafe(32))
WORKERS = 4  # gunicorn sync workers of every server the benchmark starts
USERS = 400  # users created in the main benchmark database (phones phone_of(1..USERS))
BUSINESS_WID = "996555000001@c.us"
INSTANCE = "1101000001"
