"""asv benchmark suites (``asv run --python=same``); peer comparisons live in ``compare/``."""
