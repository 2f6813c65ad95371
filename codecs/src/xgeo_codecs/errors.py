"""The one exception type of :mod:`xgeo_codecs`.

``xgeo_codecs`` never imports xgeo, so it owns its error type. It derives from
``ValueError`` so callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations


class CodecError(ValueError):
    """A chunk cannot be encoded as asked, or a blob is not a valid xgeo video chunk.

    The message says what was wrong and what to do about it.

    Examples
    --------
    >>> from xgeo_codecs import decode, CodecError
    >>> try:
    ...     decode(b"not a chunk")
    ... except CodecError as err:
    ...     print(type(err).__name__)
    CodecError
    """
