"""The benchmark runner (benchmarks/harness), without running a figure: a failing figure is
recorded and marked on the page while the others keep their results, a quick run never
writes docs/benchmarks.md, a webhook answer counts only when it says what was expected,
versions are read from the installed distributions, and missing prerequisites are named
with a way to get them."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import django
import pytest
from benchmarks.harness import DOCS_PAGE, QUICK_PAGE, clients, prereqs, runner, site
from benchmarks.harness.report import Target, render

from tests.e2e.server import free_port


class FakeContext:
    def __init__(self) -> None:
        self.ended = 0

    def end_figure(self) -> None:
        self.ended += 1


def figure(name: str, run: Any, targets: list[Target] | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        NAME=name,
        TITLE=f"Figure {name}",
        ORDER=1,
        REQUIRES=frozenset({"postgres"}),
        TARGETS=targets or [],
        run=run,
        render=lambda data, results: [f"| value | {data['value']} |"],
    )


def boom(ctx: Any, quick: bool) -> Any:
    raise ValueError("boom | pipe\nsecond line")


def good(ctx: Any, quick: bool) -> Any:
    return {"value": 42}


def page(figures: list[Any], results: dict[str, Any]) -> str:
    return render(
        figures,
        results,
        command="python3 benchmarks/run.py",
        when="2026-01-01 00:00 UTC",
        duration_s=12.0,
        machine={"django": "5.2"},
        commit="abc",
        quick=False,
    )


def test_a_failing_figure_is_recorded_and_the_next_one_still_runs():
    ctx = FakeContext()
    figures = [figure("bad", boom), figure("good", good)]
    results = runner.run_figures(figures, ctx, quick=True)
    assert results["bad"]["ok"] is False
    assert results["bad"]["error"] == "ValueError: boom / pipe"  # one line, table-safe
    assert "second line" in results["bad"]["traceback"]
    assert results["good"] == {
        "ok": True,
        "data": {"value": 42},
        "seconds": pytest.approx(0, abs=5),
    }
    assert ctx.ended == 2  # the failed figure's servers and databases are cleaned up too


def test_data_that_is_not_json_fails_the_figure_not_the_run():
    results = runner.run_figures([figure("odd", lambda ctx, quick: {1, 2})], FakeContext(), True)
    assert results["odd"]["ok"] is False
    assert results["odd"]["error"].startswith("TypeError")


def test_the_page_marks_the_failed_figure_and_keeps_the_others():
    targets_bad = [Target("bad target", lambda data: ("1", True))]
    targets_good = [
        Target("good target", lambda data: (str(data["value"]), data["value"] > 40)),
        Target("strict target", lambda data: (str(data["value"]), data["value"] > 100)),
    ]
    figures = [figure("bad", boom, targets_bad), figure("good", good, targets_good)]
    text = page(figures, runner.run_figures(figures, FakeContext(), quick=False))
    assert "**1 of 2 figures FAILED** (bad)" in text
    assert "## Figure bad\n\n**FAILED**: `ValueError: boom / pipe`" in text
    assert "## Figure good\n\n| value | 42 |" in text
    assert "| bad target | - | not measured (bad FAILED) |" in text
    assert "| good target | 42 | **met** |" in text
    assert "| strict target | 42 | **NOT met** |" in text


def test_a_page_without_failures_says_nothing_failed_and_reads_no_hand_written_notes():
    figures = [figure("good", good)]
    text = page(figures, runner.run_figures(figures, FakeContext(), quick=False))
    assert "FAILED" not in text
    assert "Closing note" not in text  # benchmarks/NOTES.md is no longer appended
    assert "from commit abc" in text


def test_setup_failure_fails_every_figure_with_its_reason():
    figures = [figure("a", good), figure("b", good)]
    try:
        raise ConnectionError("no server")
    except ConnectionError as err:
        results = runner.all_failed(figures, err)
    assert {r["error"] for r in results.values()} == {"setup: ConnectionError: no server"}


def test_quick_mode_never_writes_the_docs_page(tmp_path):
    assert runner.output_path(quick=False, output=None) == DOCS_PAGE
    assert runner.output_path(quick=True, output=None) == QUICK_PAGE
    assert runner.output_path(quick=True, output=str(tmp_path / "q.md")) == tmp_path / "q.md"
    with pytest.raises(runner.UsageError, match=r"never writes docs/benchmarks\.md"):
        runner.output_path(quick=True, output=str(DOCS_PAGE))
    assert runner.main(["--quick", "--output", str(DOCS_PAGE)]) == 2


def test_every_figure_module_has_the_interface():
    figures = runner.discover()
    names = [f.NAME for f in figures]
    assert len(names) == len(set(names))
    assert {"queries", "confirmation", "throughput", "resolver", "cpu", "load", "browser"} <= set(
        names
    )
    for f in figures:
        assert isinstance(f.TITLE, str) and f.TITLE
        assert isinstance(f.ORDER, int)
        assert f.REQUIRES <= prereqs.KNOWN, f.NAME
        assert callable(f.run) and callable(f.render), f.NAME
        assert all(isinstance(t, Target) for t in getattr(f, "TARGETS", [])), f.NAME


def test_only_and_skip_select_figures_and_unknown_names_are_refused():
    figures = runner.discover()
    assert [f.NAME for f in runner.select(figures, "queries,load", "")] == ["queries", "load"]
    assert "browser" not in [f.NAME for f in runner.select(figures, "", "browser")]
    with pytest.raises(runner.UsageError, match="no figure named nope"):
        runner.select(figures, "nope", "")
    needs = runner.needs_of(runner.select(figures, "browser", ""))
    assert needs["chromium"] == ["browser"] and "postgres" in needs


@pytest.mark.parametrize(
    ("status", "body", "expect", "ok"),
    [
        (200, b'{"status": "confirmed"}', "confirmed", True),
        (200, b'{"status": "ignored"}', "confirmed", False),  # a 2xx is not a confirmation
        (202, b"{}", "confirmed", False),
        (200, b"not json", "confirmed", False),
        (200, b'["confirmed"]', "confirmed", False),
        (500, b'{"status": "confirmed"}', "confirmed", False),
        (204, b"", None, True),
        (404, b"", None, False),
    ],
)
def test_an_answer_counts_only_when_it_says_what_was_expected(status, body, expect, ok):
    assert clients.answer_ok(status, body, expect) is ok


@pytest.fixture
def ignoring_server() -> Iterator[int]:
    """A webhook that answers every POST 200 {"status": "ignored"}."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"status": "ignored"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def test_the_load_client_counts_ignored_answers_as_errors_not_confirmations(ignoring_server):
    job = (ignoring_server, "POST", "/", {}, [b"{}"] * 5, 10.0, "confirmed")
    assert clients.hammer(job) == (0, 5)
    job = (ignoring_server, "POST", "/", {}, [b"{}"] * 5, 10.0, "ignored")
    assert clients.hammer(job) == (5, 0)


def test_versions_come_from_the_installed_distributions():
    assert site.installed("Django") == django.__version__
    assert site.installed("no-such-distribution-wl-bench") == "unknown"


def test_missing_prerequisites_are_named_with_how_to_get_them(tmp_path):
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/postgres"
    missing = prereqs.check_system(
        {"postgres": [], "chromium": ["browser"], "redis": ["throughput_redis"]},
        pg_url=closed,
        redis_url="http://not-redis",
        chromium=str(tmp_path / "no-chromium"),
    )
    assert [m.need for m in missing] == ["postgres", "redis", "chromium"]
    text = prereqs.explain(missing)
    assert "nothing answers at 127.0.0.1" in text
    assert "is not a redis:// URL" in text and "--skip throughput_redis" in text
    assert "no executable at" in text and "apt-get install chromium" in text
    assert "--skip browser" in text


def test_prerequisites_a_selection_does_not_need_are_not_checked(tmp_path):
    missing = prereqs.check_system(
        {"postgres": []},
        pg_url="sqlite:///x",
        redis_url="nonsense",
        chromium=str(tmp_path / "none"),
    )
    assert [m.need for m in missing] == ["postgres"]
    assert "not a PostgreSQL URL" in missing[0].what
