"""The CLI as a new user meets it (issue 16): one-line errors, quiet pipes, ports checked before
the "open" line, options where users put them, nothing-to-do and nothing-matched answers,
``--version``, "did you mean", help that says what and which default. Every command runs the
real installed entry point in a subprocess against a real store."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from despina.query import Reader

pytestmark = pytest.mark.slow  # each command is a new Python process (~1 s of imports)

START_TIMEOUT_S = 30.0
WIDE = {"COLUMNS": "250"}  # argparse wraps help at $COLUMNS: one option per line


def cli(
    *args: str,
    program: str = "despina",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "DESPINA_"))}
    return subprocess.run(
        [program, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**clean, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.strip() and "\n" not in result.stderr.strip(), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store filled by ``despina demo`` and its forked run."""
    folder = tmp_path_factory.mktemp("newuser") / "store"
    result = cli("demo", "--store", str(folder), "--steps", "201")
    assert result.returncode == 0, result.stderr
    with Reader(folder) as reader:
        runs = reader.list_runs("despina/demo")
    return folder, next(run for run in runs if run.endswith("finetune"))


def test_bad_input_is_one_line_exit_2_and_unexpected_errors_hide_the_traceback(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    folder, run = demo
    one_line_error(cli("ls", "--store", str(folder), "--columns", "["), 2, "--columns")
    one_line_error(
        cli("export", run, "--store", str(folder), "--attributes", "("), 2, "--attributes"
    )
    one_line_error(cli("ls", "--store", str(folder), "--limit", "many"), 2, "--limit")
    # An error no command foresaw (a folder that does not exist): one line, the traceback only
    # when asked for.
    target = str(tmp_path / "no-such-folder" / "x.csv")
    one_line_error(cli("export", run, "--store", str(folder), "-o", target), 1, "no-such-folder")
    for asked in (
        cli("export", run, "--store", str(folder), "-o", target, "--debug"),
        cli("export", run, "--store", str(folder), "-o", target, env={"DESPINA_DEBUG": "1"}),
    ):
        assert asked.returncode == 1 and "Traceback" in asked.stderr


def test_a_closed_pipe_ends_quietly(demo: tuple[Path, str]) -> None:
    folder, run = demo
    for command in (
        ["export", run, "--store", str(folder), "--format", "csv", "-o", "-"],
        ["ls", "--store", str(folder)],
    ):
        # The reader is gone before the first write, as `| head -0` would be: deterministic.
        process = subprocess.Popen(
            ["despina", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        error = process.stderr.read()
        assert process.wait(60) in (0, 141) and "Traceback" not in error and error == "", error
    piped = subprocess.run(
        f"despina export {run} --store {folder} --format csv -o - | head -3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert len(piped.stdout.splitlines()) == 3 and "Error" not in piped.stderr, piped.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("command", ["ui", "server"])
def test_ports_are_checked_before_the_open_line(
    command: str, demo: tuple[Path, str], busy_port: int
) -> None:
    folder, _ = demo
    out_of_range = cli(command, "--store", str(folder), "--port", "99999")
    one_line_error(out_of_range, 2, "--port", "99999", "65535")
    assert out_of_range.stdout == ""
    in_use = cli(command, "--store", str(folder), "--port", str(busy_port))
    one_line_error(in_use, 1, str(busy_port), "in use", "--port 0")
    assert "http://" not in in_use.stdout


@pytest.mark.parametrize("command", ["ui", "server"])
def test_port_0_serves_on_a_free_port_and_names_it(command: str, demo: tuple[Path, str]) -> None:
    folder, _ = demo
    process = subprocess.Popen(
        ["despina", command, "--store", str(folder), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        assert port != 0
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/ui-static/vendor/uplot/LICENSE")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(10)


def test_store_options_on_the_leaf_commands(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    created = cli("token", "create", "--workspace", "team", "--store", store)
    assert created.returncode == 0, created.stderr
    assert f"stored in {tmp_path / 'store'}" in created.stderr
    listing = cli("token", "ls", "--db", store)
    key_id = created.stderr.split()[1]
    assert listing.returncode == 0 and key_id in listing.stdout, listing.stderr
    assert cli("token", "revoke", key_id, "--store", store).returncode == 0
    assert cli("project", "create", "team/vision", "--store", store).returncode == 0
    assert "team/vision" in cli("project", "ls", "--store", store).stdout
    # The group's option still works, and the leaf's does not reset it.
    assert "team/vision" in cli("project", "--store", store, "ls").stdout
    for leaf in (
        ["token", "create"],
        ["token", "ls"],
        ["token", "revoke"],
        ["project", "create"],
        ["project", "ls"],
    ):
        assert "--store" in cli(*leaf, "--help").stdout, leaf


def test_token_create_says_where_its_key_is_stored(tmp_path: Path) -> None:
    created = cli("token", "create", "--workspace", "team", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"stored in {tmp_path.resolve() / '.neptune'}" in created.stderr


def test_sync_with_nothing_to_do_succeeds_and_names_the_program(tmp_path: Path) -> None:
    for program in ("despina", "neptune"):
        result = cli("sync", str(tmp_path), program=program)
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith(f"{program} sync: nothing to sync"), result.stderr


def test_export_matching_nothing_fails_naming_the_metrics(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    folder, run = demo
    result = cli("export", run, "--store", str(folder), "--attributes", "zzz", cwd=tmp_path)
    one_line_error(result, 1, "zzz", "train/loss", f"despina show {run}")
    assert list(tmp_path.iterdir()) == []  # no empty file left behind


def test_version() -> None:
    for program in ("despina", "neptune"):
        result = cli("--version", program=program)
        assert result.returncode == 0 and re.fullmatch(
            rf"{program} \d+\.\d+\.\d+\S*\n", result.stdout
        ), (result.stdout, result.stderr)


def test_typos_get_a_suggestion() -> None:
    one_line_error(cli("lss"), 2, "did you mean 'ls'?")
    one_line_error(cli("token", "craete"), 2, "did you mean 'create'?")
    one_line_error(cli("export", "r", "--format", "cvs"), 2, "did you mean 'csv'?")


def test_ls_without_a_store_says_how_to_get_one(tmp_path: Path) -> None:
    one_line_error(cli("ls", cwd=tmp_path), 1, "no despina store", "despina demo", "--store")


def _description(help_text: str) -> str:
    """The paragraph between the usage lines and the first options heading."""
    body = help_text.split("\n\n", 1)[1]
    return "" if body.startswith(("options:", "positional arguments:")) else body.split("\n\n")[0]


def _option_help(help_text: str, option: str) -> str:
    """An option's entry in ``--help``: its line and the help lines under it."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option))
    entry = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 6) or not line.strip():  # the next option, or a heading
            break
        entry.append(line)
    return " ".join(entry)


def test_help_describes_commands_and_shows_defaults(tmp_path: Path) -> None:
    for leaf in (["demo"], ["token", "create"], ["project", "create"], ["ls"], ["export"]):
        assert _description(cli(*leaf, "--help", env=WIDE).stdout).strip(), leaf
    lines = {
        "export": "--format {csv,parquet}",
        "ui": "--log-level {debug,info,warning}",
        "server": "--log-level {debug,info,warning}",
        "sync": "--timeout TIMEOUT",
    }
    for command, option in lines.items():
        text = cli(command, "--help", env=WIDE).stdout
        assert "default" in _option_help(text, option), (command, text)
    revoke = cli("token", "revoke", "--help", env=WIDE).stdout
    assert "despina token ls" in _option_help(revoke, "key_id")
    store = str(tmp_path / "store")
    assert cli("token", "create", "--workspace", "w", "--store", store).returncode == 0
    header, row = cli("token", "ls", "--store", store).stdout.splitlines()
    assert header.split()[:2] == ["KEY", "ID"] and row.split()[1] == "w/*"


def test_readme_and_test_script_say_what_happens() -> None:
    root = Path(__file__).resolve().parents[3]
    readme = (root / "README.md").read_text()
    assert "`despina ui` opens" not in readme and "`despina ui` serves" in readme
    assert '"despina[hf]"' not in readme and '".[hf]"' in readme
    script = (root / "scripts" / "test").read_text()
    steps = [line for line in script.splitlines() if line.strip().startswith("step ")]
    assert any("torch" in s for s in steps) and any(
        "PostgreSQL" in s and "left running" in s for s in steps
    )
    assert "exec python3 -m pytest" not in script  # it must come back to say PostgreSQL runs
