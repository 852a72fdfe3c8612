#!/usr/bin/env python3
"""A small mutation check of the security guards: does removing a guard fail a test?

    python3 tools/mutation_check.py              # every mutation, its own test selection
    python3 tools/mutation_check.py -k atomic    # only mutations whose id contains "atomic"
    python3 tools/mutation_check.py --list       # list them and check every snippet applies
    python3 tools/mutation_check.py --full       # the whole suite for each mutation (slow)
    python3 tools/mutation_check.py -k clock --tests tests/test_guards.py  # this file alone

Each mutation replaces one exact snippet of one package file. The check copies the
repository (working tree, uncommitted changes included) to a temporary directory, applies
one mutation at a time *in that copy*, runs the mutation's test selection there with the
copy's ``src/`` first on ``sys.path`` and restores the file before the next one; your
working tree is never written to. A mutation is

* **caught** when pytest reports failing tests (exit code 1),
* **missed** when the selection still passes (exit code 0): a guard no test defends,
* an **error** when pytest could not run (collection error, no tests): fix the entry.

The score is caught / (caught + missed). A snippet that no longer occurs exactly once (the
code changed) is reported as ``stale`` and the run exits non-zero: update the entry. The
unmutated selections must pass first (the baseline), otherwise nothing is mutated.

Needs the test environment of ``runtests.py`` (created on first use). DATABASE_URL and
REDIS_URL are passed through, as for ``runtests.py``. Not shipped in the wheel or sdist.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "src/django_whatsapp_login/"
IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    ".tox",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "site",
    "test-artifacts",
    "*.sqlite3",
)


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # relative to src/django_whatsapp_login/
    original: str
    replacement: str
    tests: tuple[str, ...]
    guard: str


def m(id: str, file: str, original: str, replacement: str, tests: str, guard: str) -> Mutation:
    return Mutation(id, file, original, replacement, tuple(tests.split()), guard)


WEBHOOK_TESTS = "tests/test_webhook_auth.py tests/test_webhook_payloads.py"
FLOW_TESTS = "tests/test_webhook_payloads.py tests/test_browser.py tests/test_backend.py"
GUARD_TESTS = "tests/test_guards.py"
CONFIRM_TESTS = "tests/test_confirmation.py"

MUTATIONS: list[Mutation] = [
    # --- webhook authentication (SR-1, SR-2, SR-23) --------------------------------------
    m(
        "token-compare",
        "gateways/greenapi/gateway.py",
        "same = hmac.compare_digest(supplied, expected)",
        "same = True",
        WEBHOOK_TESTS,
        "the webhook token is compared at all",
    ),
    m(
        "token-scheme",
        "gateways/greenapi/gateway.py",
        "matched |= same and bool(expected) and scheme == expected_scheme",
        "matched |= same and bool(expected)",
        WEBHOOK_TESTS,
        "a bearer token sent under another scheme is refused",
    ),
    m(
        "token-empty",
        "gateways/greenapi/gateway.py",
        "matched |= same and bool(expected) and scheme == expected_scheme",
        "matched |= same and scheme == expected_scheme",
        WEBHOOK_TESTS,
        "a blank configured token never matches",
    ),
    m(
        "token-any-match",
        "gateways/greenapi/gateway.py",
        "        matched |= same and bool(expected) and scheme == expected_scheme\n"
        "    return matched",
        "        matched = same and bool(expected) and scheme == expected_scheme\n"
        "    return matched",
        WEBHOOK_TESTS,
        "every configured token (rotation) is accepted, not only the last",
    ),
    m(
        "webhook-429",
        "webhooks.py",
        "        if retry_after:\n            response = JsonResponse",
        "        if False:\n            response = JsonResponse",
        "tests/test_ratelimit.py " + GUARD_TESTS,
        "10 bad tokens a minute per IP get 429",
    ),
    m(
        "body-cap",
        "webhooks.py",
        "body = request.read(limit + 1)\n    if len(body) > limit:",
        "body = request.read()\n    if False:",
        WEBHOOK_TESTS,
        "a body over 64 KiB (without Content-Length) is not parsed",
    ),
    m(
        "instance-check",
        "gateways/greenapi/gateway.py",
        "if expected_instance and message.id_instance != expected_instance:",
        "if False:",
        WEBHOOK_TESTS,
        "deliveries for another Green API instance are ignored",
    ),
    m(
        "wid-check",
        "gateways/greenapi/gateway.py",
        "if message.wid != business:",
        "if False:",
        WEBHOOK_TESTS,
        "deliveries for another business number are ignored",
    ),
    # --- the attempt and its binding (SR-10, SR-12, SR-13) --------------------------------
    m(
        "binding-compare",
        "attempts.py",
        'return hmac.compare_digest(_binding_hash(data["binding"], cookie), attempt.binding_hash)',
        "return True",
        FLOW_TESTS,
        "status and complete need the creating session's binding secret",
    ),
    m(
        "backend-binding",
        "backends.py",
        'if not hasattr(request, "session") or not attempts.session_binds(request, attempt):',
        'if not hasattr(request, "session"):',
        "tests/test_backend.py",
        "the backend itself re-checks the binding",
    ),
    m(
        "one-live-attempt",
        "attempts.py",
        "LoginAttempt.objects.filter(pk=previous, status__in=LIVE_STATUSES)",
        "LoginAttempt.objects.filter(pk=-1, status__in=LIVE_STATUSES)",
        "tests/test_browser.py tests/test_flow.py",
        "a new attempt closes the session's previous one",
    ),
    m(
        "code-full-match",
        "attempts.py",
        ".fullmatch(normalize_text(text))",
        ".search(normalize_text(text))",
        "tests/test_parser.py tests/test_webhook_payloads.py",
        "the message must be exactly <PREFIX> <CODE>",
    ),
    # --- expiry and the message time window (SR-11, SR-14) --------------------------------
    m(
        "expiry-check",
        "attempts.py",
        "    if attempt.is_expired(now):\n        _expire(",
        "    if False:\n        _expire(",
        FLOW_TESTS,
        "an expired attempt is marked expired, never confirmed",
    ),
    m(
        "live-filter",
        "attempts.py",
        "    if require_live:\n        rows = rows.filter(expires_at__gt=now)",
        "    if False:\n        rows = rows.filter(expires_at__gt=now)",
        FLOW_TESTS + " " + GUARD_TESTS,
        "each transition's UPDATE also requires expires_at > now",
    ),
    m(
        "backend-expiry",
        "backends.py",
        "if attempt.status != Status.CONFIRMED or attempt.is_expired():",
        "if attempt.status != Status.CONFIRMED:",
        "tests/test_backend.py tests/test_browser.py " + GUARD_TESTS,
        "the backend refuses an expired attempt",
    ),
    m(
        "clock-skew-zero",
        "attempts.py",
        "CLOCK_SKEW = timedelta(seconds=5)",
        "CLOCK_SKEW = timedelta(seconds=0)",
        "tests/test_webhook_payloads.py " + GUARD_TESTS,
        "a message up to 5 s older than the attempt is accepted (phone clock behind)",
    ),
    m(
        "clock-skew-wide",
        "attempts.py",
        "CLOCK_SKEW = timedelta(seconds=5)",
        "CLOCK_SKEW = timedelta(seconds=60)",
        "tests/test_webhook_payloads.py " + GUARD_TESTS,
        "a message written well before the attempt existed is stale",
    ),
    m(
        "timestamp-upper-bound",
        "attempts.py",
        "        <= attempt.expires_at.timestamp()\n",
        "        <= attempt.expires_at.timestamp() + 86400\n",
        "tests/test_webhook_payloads.py",
        "a message stamped after the attempt's expiry is stale",
    ),
    # --- who sent it (SR-15, SR-17, SR-19, SR-27) -----------------------------------------
    m(
        "personal-chat",
        "attempts.py",
        "    if senders is None:\n        return ignored",
        "    if False:\n        return ignored",
        "tests/test_webhook_payloads.py",
        "group chats never log anyone in",
    ),
    m(
        "conflicting-sender",
        "attempts.py",
        "    if _same_sender(attempt, senders):\n"
        '        return Outcome("duplicate", "already_confirmed", attempt)',
        '        if True:\n            return Outcome("duplicate", "already_confirmed", attempt)',
        "tests/test_webhook_payloads.py tests/test_browser.py",
        "a second number sending a confirmed code voids the attempt",
    ),
    m(
        "user-can-authenticate-at-confirm",
        "attempts.py",
        "if not WhatsAppLoginBackend().user_can_authenticate(user):",
        "if False:",
        "tests/test_webhook_payloads.py tests/test_backend.py tests/test_resolvers.py",
        "an inactive user's number does not confirm",
    ),
    m(
        "user-can-authenticate-at-consume",
        "attempts.py",
        "if user is None or not can_authenticate(user):",
        "if user is None:",
        "tests/test_backend.py tests/test_browser.py",
        "a user deactivated after confirmation is not logged in",
    ),
    m(
        "backend-can-authenticate",
        "backends.py",
        "return attempts.consume(attempt, self.user_can_authenticate)",
        "return attempts.consume(attempt, lambda user: True)",
        "tests/test_backend.py tests/test_browser.py",
        "the backend passes its own user_can_authenticate to consume",
    ),
    # --- idempotency and atomicity (SR-7) ------------------------------------------------
    m(
        "idempotency-check",
        "attempts.py",
        '        if not first_delivery(message):\n            return Outcome("duplicate")\n'
        "        attempt = LoginAttempt",
        "        first_delivery(message)\n        attempt = LoginAttempt",
        "tests/test_webhook_payloads.py tests/test_poll_command.py " + GUARD_TESTS,
        "a re-delivered message is handled once",
    ),
    m(
        "idempotency-integrity",
        "attempts.py",
        "    except IntegrityError:\n        return False\n    return True",
        "    except IntegrityError:\n        return True\n    return True",
        "tests/test_webhook_payloads.py tests/test_poll_command.py " + GUARD_TESTS,
        "the unique (chat id, message id) row is what recognises a re-delivery",
    ),
    m(
        "atomic-insert",
        "attempts.py",
        "    with transaction.atomic():\n"
        "        if not first_delivery(message):\n"
        '            return Outcome("duplicate")\n'
        "        attempt = LoginAttempt.objects.filter(code_hash=",
        "    if not first_delivery(message):\n"
        '        return Outcome("duplicate")\n'
        "    with transaction.atomic():\n"
        "        attempt = LoginAttempt.objects.filter(code_hash=",
        "tests/test_webhook_payloads.py " + GUARD_TESTS,
        "the processed-message row commits together with the state change",
    ),
    # --- rate limits (SR-20..SR-25) -----------------------------------------------------
    m(
        "confirm-limit",
        "attempts.py",
        'elif ratelimit.hit("confirm", app_settings.RATE_LIMIT_CONFIRM, limit_key):',
        "elif False:",
        "tests/test_ratelimit.py " + GUARD_TESTS,
        "valid login messages per phone are limited",
    ),
    m(
        "confirm-limit-key",
        "attempts.py",
        '    limit_key = {"phone": senders.key or None}',
        '    limit_key = {"phone": message.message_id}',
        "tests/test_ratelimit.py " + GUARD_TESTS,
        "the per-phone limits count per sender, not per message",
    ),
    m(
        "failed-limit",
        "attempts.py",
        'if ratelimit.peek("failed", app_settings.RATE_LIMIT_FAILED, limit_key):',
        "if False:",
        "tests/test_ratelimit.py",
        "a sender with too many failures is dropped before any query",
    ),
    m(
        "failed-counting",
        "attempts.py",
        'if outcome.action == "rejected" or outcome.reason in FAILURES:',
        "if False:",
        "tests/test_ratelimit.py",
        "failed messages are counted",
    ),
    m(
        "start-limit",
        "views.py",
        "        if retry_after:\n            raise RateLimited(retry_after)",
        "        if False:\n            raise RateLimited(retry_after)",
        "tests/test_ratelimit.py tests/test_embed.py",
        "attempt creation is limited per IP and session",
    ),
    m(
        "status-limit",
        "views.py",
        "    retry_after = _check_poll_limit(request)\n    if retry_after:",
        "    retry_after = _check_poll_limit(request)\n    if False:",
        "tests/test_ratelimit.py",
        "status polling is limited",
    ),
    m(
        "limit-off-by-one",
        "ratelimit.py",
        "        if count > rule.amount:",
        "        if count > rule.amount + 1:",
        "tests/test_ratelimit.py",
        "the N+1-th event is the first refused",
    ),
    m(
        "limit-counter-fallback",
        "ratelimit.py",
        "        if cache.add(key, 1, timeout=rule.period + 1):\n            return 1",
        "        if True:\n            return 1",
        "tests/test_edge_cases.py tests/test_ratelimit.py",
        "an event whose window expired between add and incr still counts",
    ),
    m(
        "trusted-proxy-count",
        "ratelimit.py",
        "    if count <= 0:\n        return remote",
        "    if count < 0:\n        return remote",
        "tests/test_ratelimit.py",
        "X-Forwarded-For is ignored without a configured proxy count",
    ),
    # --- browser endpoints (SR-26, SR-28, SR-29) -----------------------------------------
    m(
        "sec-fetch-site",
        "views.py",
        'if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":',
        "if False:",
        "tests/test_browser.py " + GUARD_TESTS,
        "complete refuses Sec-Fetch-Site: cross-site",
    ),
    m(
        "status-hides-consumed",
        "views.py",
        "    if attempt is None or attempt.status == Status.CONSUMED:\n"
        '        return 404, {"error": "no_attempt"}',
        '    if attempt is None:\n        return 404, {"error": "no_attempt"}',
        "tests/test_browser.py",
        "a consumed attempt looks like no attempt (same 404)",
    ),
    m(
        "referrer-policy",
        "views.py",
        '    response["Referrer-Policy"] = "same-origin"\n',
        "",
        "tests/test_browser.py " + GUARD_TESTS,
        "the login page does not leak its URL to other sites (Referrer-Policy)",
    ),
    m(
        "safe-next",
        "views.py",
        "    if url and url_has_allowed_host_and_scheme(\n"
        "        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()\n"
        "    ):",
        "    if url:",
        "tests/test_browser.py",
        "?next= only redirects to this site",
    ),
    # --- replies and signing out (SR-24) -------------------------------------------------
    m(
        "sign-out-window",
        "replies.py",
        "        confirmed_at__gte=now - app_settings.SIGN_OUT_WINDOW,\n",
        "",
        "tests/test_replies.py " + GUARD_TESTS,
        'a "NO" signs out only logins of the last WHATSAPP_LOGIN_SIGN_OUT_WINDOW',
    ),
    m(
        "sign-out-before-login",
        "replies.py",
        "        confirmed_at__lte=datetime.fromtimestamp(message.timestamp, "
        "tz=dt_timezone.utc)\n        + attempts.CLOCK_SKEW,\n",
        "",
        "tests/test_replies.py " + GUARD_TESTS,
        'a "NO" written before a login does not sign it out',
    ),
    m(
        "sign-out-sender",
        "replies.py",
        "        sender_hash=sender,\n",
        "",
        "tests/test_replies.py",
        'only the number that confirmed a login can sign it out with "NO"',
    ),
    m(
        "sign-out-ends-session",
        "attempts.py",
        "        store.delete(key)\n",
        "        pass\n",
        "tests/test_replies.py",
        'a "NO" after the login deletes that session',
    ),
    m(
        "one-reply-per-message",
        "replies.py",
        '        if not _claim(chat_id, message_id + ":" + kind):\n            return ""',
        '        if False:\n            return ""',
        "tests/test_replies.py " + GUARD_TESTS,
        "at most one reply per incoming message",
    ),
    m(
        "reply-hourly-cap",
        "replies.py",
        "    return count <= limit",
        "    return True",
        "tests/test_replies.py",
        "at most WHATSAPP_LOGIN_REPLIES_PER_HOUR replies to one number",
    ),
    # --- settings and retention ----------------------------------------------------------
    m(
        "ttl-clamp",
        "conf.py",
        "    return clamped",
        "    return ttl",
        "tests/test_checks.py tests/test_attempt_ttl.py",
        "WHATSAPP_LOGIN_ATTEMPT_TTL is held to 10..600 s at runtime",
    ),
    m(
        "cleanup-message-retention",
        "management/commands/whatsapp_login_cleanup.py",
        "        if messages_age < MIN_MESSAGE_RETENTION:",
        "        if False:",
        "tests/test_cleanup.py",
        "processed-message rows are kept at least 25 hours",
    ),
    m(
        "cleanup-attempt-retention",
        "management/commands/whatsapp_login_cleanup.py",
        "        if attempts_age < MIN_ATTEMPT_RETENTION:",
        "        if False:",
        "tests/test_cleanup.py",
        "attempts younger than the longest TTL (10 minutes) are never deleted",
    ),
    m(
        "cleanup-zero",
        "management/commands/whatsapp_login_cleanup.py",
        "        if attempts_age is None:\n",
        "        if not attempts_age:\n",
        "tests/test_cleanup.py",
        "--attempts-older-than 0 is refused, not read as the default",
    ),
    # --- confirmation in WhatsApp (issue 10, part B) -------------------------------------
    m(
        "confirm-skipped",
        "devices.py",
        "    return not is_known(user, attempt.device_hash)",
        "    return False",
        CONFIRM_TESTS,
        "a browser the user never confirmed is asked for YES",
    ),
    m(
        "confirm-known-any-user",
        "devices.py",
        "        user_id=user.pk, device_hash=device_hash, last_used_at__gte=since",
        "        device_hash=device_hash, last_used_at__gte=since",
        CONFIRM_TESTS,
        "a browser known for one user does not skip the question for another",
    ),
    m(
        "confirm-device-ttl",
        "devices.py",
        "user_id=user.pk, device_hash=device_hash, last_used_at__gte=since",
        "user_id=user.pk, device_hash=device_hash",
        CONFIRM_TESTS,
        "a known device expires after WHATSAPP_LOGIN_KNOWN_DEVICE_TTL",
    ),
    m(
        "confirm-cookie-unsigned",
        "devices.py",
        "        device_id = signing.Signer(salt=_SALT).unsign(value)",
        '        device_id = value.rpartition(":")[0] or value',
        CONFIRM_TESTS,
        "a device cookie is only believed with its signature",
    ),
    m(
        "confirm-answer-any-chat",
        "attempts.py",
        "        for attempt in LoginAttempt.objects.filter(\n"
        "            _sender_filter(senders),\n",
        "        for attempt in LoginAttempt.objects.filter(\n",
        CONFIRM_TESTS,
        "only the chat that sent the code can answer its question",
    ),
    m(
        "confirm-answer-before-question",
        "attempts.py",
        "        and (attempt.asked_at - CLOCK_SKEW).timestamp() <= written"
        " <= attempt.expires_at.timestamp()",
        "        and written <= attempt.expires_at.timestamp()",
        CONFIRM_TESTS,
        "an answer written before the question is not an answer to it",
    ),
    m(
        "confirm-ambiguous-yes",
        "attempts.py",
        "    if answer == YES and len(waiting) > 1:",
        "    if False:",
        CONFIRM_TESTS,
        "an unquoted YES never picks one of several waiting logins",
    ),
    m(
        "confirm-unsent-waits",
        "replies.py",
        "        attempts.question_unsent(attempt)\n    except Exception:",
        "        pass\n    except Exception:",
        CONFIRM_TESTS,
        "a question that could not be sent rejects the attempt instead of leaving it waiting",
    ),
    # --- the cached state and the push channel (issue 11) ------------------------------
    m(
        "cached-binding",
        "poll.py",
        "return cached if attempts.session_binds(request, cached) else None",
        "return cached",
        "tests/test_state_cache.py",
        "the status poll from the cache checks the browser binding",
    ),
    m(
        "publish-after-transition",
        "attempts.py",
        "        setattr(attempt, field, value)\n"
        "    transaction.on_commit(lambda: live.publish(attempt))",
        "        setattr(attempt, field, value)",
        "tests/test_state_cache.py",
        "each committed transition updates the cached state (no stale pending)",
    ),
    m(
        "cached-fill-add",
        "state.py",
        "cache.add(cache_key(attempt.pk), entry(attempt), timeout=_timeout(attempt))",
        "cache.set(cache_key(attempt.pk), entry(attempt), timeout=_timeout(attempt))",
        "tests/test_state_cache.py",
        "a poll that read the row never overwrites a newer cached state",
    ),
]


def venv_python() -> Path:
    sys.path.insert(0, str(ROOT))
    import runtests  # the test environment of the README's command

    return runtests.ensure_environment()


def check_snippets(root: Path, mutations: list[Mutation]) -> list[str]:
    problems = []
    for mutation in mutations:
        text = (root / PACKAGE / mutation.file).read_text(encoding="utf-8")
        count = text.count(mutation.original)
        if count != 1:
            problems.append(f"{mutation.id}: snippet found {count} times in {mutation.file}")
    return problems


def run_pytest(python: Path, copy: Path, tests: list[str], timeout: float) -> tuple[int, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / "src"), str(copy)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [str(python), "-m", "pytest", "-x", "-q", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", "--no-header", "-o", "addopts=", *tests]
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=copy,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - started
    return result.returncode, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", default="", help="only mutations whose id contains this")
    parser.add_argument("--list", action="store_true", help="list and verify, run nothing")
    parser.add_argument("--full", action="store_true", help="run the whole suite each time")
    parser.add_argument(
        "--tests",
        nargs="+",
        metavar="NODE",
        help="run these tests instead of each mutation's own selection (does this test catch it?)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    args = parser.parse_args(argv)
    if args.tests:
        selected_tests = tuple(args.tests)
        global MUTATIONS
        MUTATIONS = [
            Mutation(mut.id, mut.file, mut.original, mut.replacement, selected_tests, mut.guard)
            for mut in MUTATIONS
        ]

    selected = [mutation for mutation in MUTATIONS if args.k in mutation.id]
    ids = [mutation.id for mutation in MUTATIONS]
    duplicates = {i for i in ids if ids.count(i) > 1}
    problems = check_snippets(ROOT, selected)
    problems += [f"{i}: duplicate id" for i in sorted(duplicates)]
    problems += [
        f"{mut.id}: no test file {test}"
        for mut in selected
        for test in mut.tests
        if not (ROOT / test.split("::")[0]).exists()
    ]
    if args.list:
        for mutation in selected:
            print(f"{mutation.id:34} {mutation.file:22} {mutation.guard}")
        print(f"{len(selected)} mutation(s)")
    if problems:
        print("stale entries (update tools/mutation_check.py):", *problems, sep="\n  ")
        return 2
    if args.list or not selected:
        return 0

    python = venv_python()
    with tempfile.TemporaryDirectory(prefix="wl-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=IGNORE)
        selections = sorted({test for mut in selected for test in mut.tests})
        baseline = ["tests"] if args.full else selections
        print(f"baseline: {' '.join(baseline)}", flush=True)
        code, seconds = run_pytest(python, copy, baseline, args.timeout)
        if code != 0:
            print(f"baseline failed (pytest exit {code}): fix the suite first")
            return 2
        print(f"baseline passed in {seconds:.0f} s\n", flush=True)
        results: dict[str, list[str]] = {"caught": [], "missed": [], "error": []}
        for mutation in selected:
            target = copy / PACKAGE / mutation.file
            original = target.read_text(encoding="utf-8")
            try:
                target.write_text(
                    original.replace(mutation.original, mutation.replacement, 1), encoding="utf-8"
                )
                tests = ["tests"] if args.full else list(mutation.tests)
                code, seconds = run_pytest(python, copy, tests, args.timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            verdict = {1: "caught", 0: "missed"}.get(code, "error")
            results[verdict].append(mutation.id)
            note = "" if verdict != "error" else f" (pytest exit {code})"
            print(f"{verdict:6}  {mutation.id:34} {seconds:5.1f} s  {mutation.guard}{note}")
            sys.stdout.flush()
    caught, missed = len(results["caught"]), len(results["missed"])
    print(f"\nscore: {caught}/{caught + missed} caught", end="")
    print(f", {len(results['error'])} error(s)" if results["error"] else "")
    for verdict in ("missed", "error"):
        if results[verdict]:
            print(f"{verdict}: {', '.join(results[verdict])}")
    return 0 if not results["missed"] and not results["error"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
