"""``despina token create | ls | revoke``: API tokens for a Despina server."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import sys
from typing import Any

from despina.cli._common import add_store_option, store_location

__all__ = ["register"]

URL_ENV = "DESPINA_URL"

if importlib.util.find_spec("jwt") is None:  # the server extra: no tokens without a server
    raise ImportError("`despina token` needs the server extra (PyJWT is missing)")


def register(subparsers: Any) -> None:
    """Add the ``token`` command group to the ``despina`` argument parser."""
    from despina.api import DEFAULT_HOST, DEFAULT_PORT

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="create, list or revoke API tokens for `despina server`",
        description="Create, list or revoke the API tokens `despina server` accepts; they are "
        "kept in the store it serves.",
    )
    add_store_option(parser, dest="db")
    commands = parser.add_subparsers(dest="token_command", required=True)
    create = commands.add_parser(
        "create",
        help="print a new API token (shown once)",
        description="Print a new API token for the server that serves this store (its key is "
        "kept in the store: create tokens in the store `despina server` serves).",
    )
    add_store_option(create, dest="db", leaf=True)
    create.add_argument("--workspace", required=True, help="workspace the token reaches")
    create.add_argument("--project", default=None, help="limit the token to this one project")
    create.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help=f"server URL written into the token (default ${URL_ENV} or the server default)",
    )
    create.add_argument("--label", default="", help="a note shown by `despina token ls`")
    create.add_argument(
        "--no-create-projects",
        action="store_true",
        help="refuse to create projects on first ingest with this token",
    )
    create.set_defaults(func=_create)
    listing = commands.add_parser(
        "ls",
        help="list tokens (never their secrets)",
        description="List the tokens of this store: key id, scope, state, creation time, label.",
    )
    add_store_option(listing, dest="db", leaf=True)
    listing.set_defaults(func=_list)
    revoke = commands.add_parser(
        "revoke",
        help="revoke a token by its key id",
        description="Revoke a token: the server refuses it from then on.",
    )
    add_store_option(revoke, dest="db", leaf=True)
    revoke.add_argument(
        "key_id",
        help="the token's key id: the KEY ID column of `despina token ls`, also printed by "
        "`despina token create`",
    )
    revoke.set_defaults(func=_revoke)


def _ring(args: argparse.Namespace) -> Any:
    from despina.auth import KeyRing, ServerDatabase

    return KeyRing(ServerDatabase(store_location(args.db)))


def _create(args: argparse.Namespace) -> int:
    from despina.auth import encode_api_token

    if not args.url.startswith(("http://", "https://")):  # checked before a key is made
        print(f"despina token create: --url must start with http:// or https://, got {args.url!r}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        api_key, grant = _ring(args).create_key(
            args.workspace,
            args.project,
            label=args.label,
            can_create_projects=not args.no_create_projects,
        )
    except ValueError as exc:
        print(f"despina token create: {exc}", file=sys.stderr)
        return 2
    # The token alone on stdout (for `export NEPTUNE_API_TOKEN=$(despina token create …)`);
    # what it is, on stderr.
    print(encode_api_token(args.url.rstrip("/"), api_key))
    print(
        f"key {grant.key_id} reaches {grant.scope} on {args.url}; it is shown only this once. "
        f"The key is stored in {_where(args)}: serve that store (`despina server --store …`)",
        file=sys.stderr,
    )
    return 0


def _where(args: argparse.Namespace) -> str:
    """The store location as the user can find it again: a folder as an absolute path."""
    from pathlib import Path

    location = store_location(args.db)
    return location if "://" in location else str(Path(location).resolve())


def _list(args: argparse.Namespace) -> int:
    rows = _ring(args).list_keys()
    if not rows:
        print("no tokens; create one with `despina token create --workspace W`")
        return 0
    print(
        f"{'KEY ID':<{len(rows[0].grant.key_id)}}  {'SCOPE':<30} {'STATE':<8} "
        f"{'PROJECTS':<17} {'CREATED':<20} LABEL"
    )
    for info in rows:
        created = dt.datetime.fromtimestamp(info.created_at, dt.timezone.utc)
        state = "revoked" if info.revoked else "active"
        creates = "creates projects" if info.grant.can_create_projects else "no new projects"
        print(
            f"{info.grant.key_id}  {info.grant.scope:<30} {state:<8} {creates:<17} "
            f"{created:%Y-%m-%d %H:%M} UTC  {info.label}"
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if _ring(args).revoke(args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    print(f"despina token revoke: no active token with key id {args.key_id!r}", file=sys.stderr)
    return 1
