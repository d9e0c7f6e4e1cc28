"""How the client names and types the files it uploads, for tools that upload as a run would.

Public: ``despina import`` names the files it converts with these, so imported files look like
logged ones; ``__all__`` is the contract. A ``FileRef``'s MIME type is :func:`guess_mime` of the
file name when not given; its destination (``<run>/<attribute>/<step>/<file>``) is built from
:func:`destination_part` of each readable part: safe characters kept, the rest folded to ``_``,
cut to a limit, and a short hash of the whole text appended so that parts folding to the same
text stay apart.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re

__all__ = ["DEFAULT_MIME", "destination_part", "guess_mime"]

DEFAULT_MIME = "application/octet-stream"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def guess_mime(name: str) -> str:
    """The MIME type of a file called ``name`` (by its extension), else ``DEFAULT_MIME``."""
    return mimetypes.guess_type(name)[0] or DEFAULT_MIME


def destination_part(text: str, limit: int) -> str:
    """``text`` with unsafe characters folded to ``_``, cut to ``limit``, plus ``-<8 hex>``."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=4).hexdigest()
    return f"{_UNSAFE.sub('_', text)[:limit]}-{digest}"
