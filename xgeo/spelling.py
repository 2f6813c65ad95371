"""How a message that suggests a fix spells it: as a Python argument, or as a CLI flag.

The same error (an interrupted store, an existing output) reaches Python callers and users
of the ``xgeo`` command; each must be told about an option that exists where they are:
``resume=True`` and ``mode='w'`` in Python, ``--resume`` and ``--overwrite`` on the
command line. The CLI enters :func:`cli_spelling` for the duration of a command; every
message is built with :func:`fix`.

Examples
--------
>>> fix("resume")
'resume=True'
>>> with cli_spelling():
...     fix("resume"), fix("overwrite")
('--resume', '--overwrite')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["fix", "in_cli", "cli_spelling"]

_PYTHON = {
    "resume": "resume=True",
    "overwrite": "mode='w'",
    "allow_incomplete": "allow_incomplete=True",
}
_CLI = {
    "resume": "--resume",
    "overwrite": "--overwrite",
    "allow_incomplete": None,  # the CLI never reads an incomplete store
}
_IN_CLI: ContextVar[bool] = ContextVar("xgeo_cli_spelling", default=False)


def fix(option: str) -> str | None:
    """How ``option`` (``"resume"``, ``"overwrite"``, ``"allow_incomplete"``) is spelled
    where the current call comes from; None when that context has no such option."""
    return (_CLI if _IN_CLI.get() else _PYTHON)[option]


def in_cli() -> bool:
    """True inside :func:`cli_spelling` (a message may then say "the same command")."""
    return _IN_CLI.get()


@contextmanager
def cli_spelling() -> Iterator[None]:
    """Spell fixes as ``xgeo`` command-line flags inside this block."""
    token = _IN_CLI.set(True)
    try:
        yield
    finally:
        _IN_CLI.reset(token)
