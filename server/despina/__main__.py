"""``python -m despina COMMAND …``: the same as the ``despina`` command (``ServerProcess`` starts
``python -m despina server`` so it needs no script on the PATH)."""

from __future__ import annotations

from despina.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
