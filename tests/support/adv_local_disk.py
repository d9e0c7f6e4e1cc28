"""Helpers for the client's local-disk tests: a small tmpfs, a filler file, a training script
in a subprocess (so a SIGBUS is the child's exit status, not the death of pytest)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHUNK = 64 * 1024
PAGE = 4096


@contextlib.contextmanager
def small_tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` MiB mounted at ``path``; skips where mounting is not possible."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root on Linux (CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)]
    result = subprocess.run(mount, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave_bytes: int) -> Path:
    """Take all free space of ``path``'s file system but ``leave_bytes`` (to the page)."""
    filler = path / "filler"
    with open(filler, "ab", buffering=0) as f:
        for chunk in (CHUNK, PAGE):
            try:
                while free_bytes(path) >= leave_bytes + chunk:
                    f.write(bytes(chunk))
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    return filler


def start_script(code: str, *args: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=clean,
    )  # fmt: skip


def read_json_line(child: subprocess.Popen[str]) -> dict[str, Any]:
    """The child's next line of stdout as JSON; its stderr in the message when it died."""
    assert child.stdout is not None and child.stderr is not None
    line = child.stdout.readline()
    if not line:
        child.wait(timeout=60)
        raise AssertionError(
            f"the training script ended with status {child.returncode} "
            f"(-7 is SIGBUS):\n{child.stderr.read()[-4000:]}"
        )
    parsed: dict[str, Any] = json.loads(line)
    return parsed
