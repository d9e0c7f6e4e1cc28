"""``despina import --api-token … --url …``: the runs reach a real server over HTTP through the
client's public ``neptune_scale.http_transport``; the address in ``--url`` wins over the token's."""

from __future__ import annotations

from pathlib import Path

import pytest
from despina.api import ServerProcess
from despina.auth import KeyRing, ServerDatabase, encode_api_token
from despina.query import Reader
from scenario import ARTIFACT_JSON, FILESET, P2, SAN, build_v2
from test_import import despina_import

pytest.importorskip("pyarrow")


def test_import_over_http_to_the_url_given(tmp_path: Path) -> None:
    export = build_v2(tmp_path)
    location = str(tmp_path / "server-store")
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("legacy")
    with ServerProcess(location, tmp_path / "server.log") as server:
        # The token names a port nothing listens on: only --url reaches the server.
        token = encode_api_token("http://127.0.0.1:9", api_key)
        result = despina_import(
            str(export.data), "--files", str(export.files), "--api-token", token,
            "--url", server.url + "/",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    with Reader(location) as reader:
        assert reader.list_runs(P2) == [SAN]
        table = reader.fetch_runs_table(P2, [SAN], attributes=r"^parameters/epochs$")
        files = reader.download_files(P2, [SAN], r"^(data/set/|art$)", tmp_path / "out")
    assert table.loc[SAN, "parameters/epochs"] == 7
    got = {r.attribute: Path(r.path).read_bytes() for r in files.itertuples()}
    assert got == {
        "data/set/a.txt": FILESET["a.txt"], "data/set/sub/b.bin": FILESET["sub/b.bin"],
        "art": ARTIFACT_JSON,
    }  # fmt: skip
