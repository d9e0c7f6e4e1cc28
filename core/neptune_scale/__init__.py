"""Neptune Scale client: log experiments with ``Run``; Despina keeps them.

Placeholder until the client lands (issue 2).
"""

from __future__ import annotations

__all__: list[str] = []
