"""One module per figure; the runner (benchmarks/harness/runner.py) finds them all.

Adding a figure is adding a module here with ``NAME``, ``TITLE``, ``ORDER``, ``REQUIRES``,
``run(ctx, quick)``, ``render(data, results)`` and optionally ``TARGETS`` and ``child(args)``;
see benchmarks/README.md.
"""
