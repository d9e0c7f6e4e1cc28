"""Splitting a run of snapshot records (a batch the sender reads) back into their frames."""

from __future__ import annotations

from neptune_scale._oplog.check import _parse_header

__all__ = ["frames"]


def frames(body: bytes) -> list[bytes]:
    """The records of ``body`` byte for byte (each with its tag and length); every record must
    be whole."""
    out, pos = [], 0
    while pos < len(body):
        header = _parse_header(body, pos)
        assert isinstance(header, tuple), f"no whole record at byte {pos}"
        out.append(body[pos : header[2]])
        pos = header[2]
    return out
