"""Root pytest configuration.

Both test folders (tests/ and codecs/tests/) have a conftest.py; with --doctest-modules
pytest would also import them as doctest modules under the same name "conftest" and
fail. They hold fixtures, not doctests, so doctest collection skips them.
"""

collect_ignore = ["tests/conftest.py", "codecs/tests/conftest.py"]
