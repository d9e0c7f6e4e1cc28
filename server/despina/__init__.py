"""Despina: the embedded store, the self-hosted server, the web UI and the CLI."""

from __future__ import annotations

__all__: list[str] = []
