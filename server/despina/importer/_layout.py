"""Where the runs of a neptune-exporter export lie on disk (``docs/neptune-export.md``).

``DATA/<sanitized project>/<sanitized run>_part_<n>.parquet``: a run is complete when its
``part_0.parquet`` exists (the exporter renames part 0 last); parts still named ``.tmp`` are an
export that was interrupted. Folder and file names are sanitized and hashed, so nothing here is
parsed back into project or run ids: those are read from the rows (``_plan``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunFiles", "find_runs"]

_PART = re.compile(r"^(?P<prefix>.+)_part_(?P<n>\d+)\.parquet(?P<tmp>\.tmp)?$")
# The exporter's model-registry export (2.x) writes these beside a project's runs; they hold
# models, not runs, and are reported as not imported.
REGISTRY_FOLDERS = ("models", "model_versions")


@dataclass
class RunFiles:
    """The files of one exported run, by part number."""

    folder: Path
    prefix: str
    parts: dict[int, Path] = field(default_factory=dict)  # finished parts (``.parquet``)
    leftovers: dict[int, Path] = field(default_factory=dict)  # ``.parquet.tmp``

    @property
    def complete(self) -> bool:
        return 0 in self.parts

    @property
    def ordered_parts(self) -> list[Path]:
        return [self.parts[n] for n in sorted(self.parts)]

    @property
    def label(self) -> str:
        return f"{self.folder.name}/{self.prefix}"

    def fingerprint(self) -> str:
        """Names, sizes and modification times of the parts: a re-export changes it."""
        items = []
        for path in self.ordered_parts:
            stat = path.stat()
            items.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(items)


def _project_folders(data: Path) -> list[Path]:
    """``data`` itself when it holds parts (one project folder), else its sub-folders."""
    if any(_PART.match(p.name) for p in data.iterdir() if p.is_file()):
        return [data]
    return sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_runs(data: Path) -> tuple[list[RunFiles], list[Path]]:
    """Every run folder prefix under ``data``, and model-registry folders that are skipped."""
    runs: list[RunFiles] = []
    registry: list[Path] = []
    for folder in _project_folders(data):
        found: dict[str, RunFiles] = {}
        for path in sorted(folder.iterdir()):
            if path.is_dir() and path.name in REGISTRY_FOLDERS:
                registry.append(path)
                continue
            match = _PART.match(path.name)
            if match is None or not path.is_file():
                continue
            run = found.setdefault(match["prefix"], RunFiles(folder, match["prefix"]))
            target = run.leftovers if match["tmp"] else run.parts
            target[int(match["n"])] = path
        runs.extend(found[prefix] for prefix in sorted(found))
    return runs, registry
