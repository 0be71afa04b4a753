"""The ``harmonystream`` command: serve, worker, migrate, create-user, scan."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from server.errors import AppError, ConfigError
from server.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(data_dir=getattr(args, "data_dir", None))
    except ConfigError as exc:
        sys.exit(f"harmonystream: {exc}")
    from server.logging import configure_logging

    configure_logging(json=settings.log_json, level=settings.log_level)
    try:
        args.run(args, settings)
    except (ConfigError, AppError) as exc:
        sys.exit(f"harmonystream: {getattr(exc, 'message', exc)}")
    except KeyboardInterrupt:
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harmonystream", description="Self-hosted music streaming server.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--data-dir", default=None)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (SO_REUSEPORT); 0 = one per core. More than one needs "
        "HS_REDIS_URL",
    )
    # Set by ``--workers`` on the processes it starts: bind the port it holds, with SO_REUSEPORT.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    worker = sub.add_parser(
        "worker", help="run a transcoder worker (needs HS_REDIS_URL; HS_MONGO_URL or the embedded store)"
    )
    worker.add_argument("--data-dir", default=None)
    worker.set_defaults(run=_worker)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--data-dir", default=None)
    migrate.set_defaults(run=_migrate)

    create = sub.add_parser("create-user", help="create an account")
    create.add_argument("username")
    create.add_argument("--password", help="prompted for when omitted")
    create.add_argument("--email", default=None)
    create.add_argument("--role", choices=["listener", "artist", "admin"], default="listener")
    create.add_argument("--data-dir", default=None)
    create.set_defaults(run=_create_user)

    scan = sub.add_parser("scan", help="import a folder of audio files, referencing them in place")
    scan.add_argument("path")
    scan.add_argument("--data-dir", default=None)
    scan.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=30.0,
        default=None,
        metavar="SECONDS",
        help="keep watching: scan again every SECONDS (default 30) until Ctrl-C",
    )
    scan.set_defaults(run=_scan)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    from server.app import create_app
    from server.processes import run_group, worker_count
    from server.serving import run

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    workers = worker_count(args.workers)
    if workers > 1:
        run_group(
            settings,
            host,
            port,
            workers,
            started=lambda bound: print(
                f"HarmonyStream on http://{host}:{bound}/ ({workers} processes)", flush=True
            ),
        )
        return
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_objects)  # after cleanup_ctx: everything opened at start

    def started(bound: int) -> None:
        if not args.reuse_port:  # a child of --workers (its only user) leaves the saying to its parent
            print(f"HarmonyStream on http://{host}:{bound}/", flush=True)

    run(app, host, port, reuse_port=args.reuse_port, started=started)


async def _freeze_startup_objects(app: web.Application) -> None:
    tune_gc()


def tune_gc() -> None:
    """Keep the cyclic GC's pauses short while thousands of connections are open.

    Everything alive after start-up (modules, the app, its services) lives as long as the process:
    ``gc.freeze`` takes it out of every collection, so a full collection walks only what came later
    (the connections). The young generation is collected ten times less often (700 → 7,000 net
    allocations), so fewer objects of each new connection are walked again and again on their way to
    the old generation. With 10,000 open connections this took the worst pauses from ~250-300 ms to
    ~40-100 ms and the listeners' p99 from ~200-270 ms to ~20-40 ms (docs/PERFORMANCE.md).
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)


def _worker(args: argparse.Namespace, settings: Settings) -> None:
    from server.jobs.cli import check, run_worker

    check(settings)
    asyncio.run(run_worker(settings))


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    from migrations import apply_pending
    from server.handles import open_database

    async def run() -> list[str]:
        async with open_database(settings) as db:
            return await apply_pending(db)

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "nothing to apply")


def _create_user(args: argparse.Namespace, settings: Settings) -> None:
    from pydantic import ValidationError

    from migrations import apply_pending
    from server.auth.passwords import PasswordHasher
    from server.auth.schemas import RegisterIn
    from server.handles import open_database
    from server.users.store import UserStore

    password = args.password or getpass.getpass("Password: ")
    email = args.email or f"{args.username}@localhost.localdomain"
    try:
        body = RegisterIn(username=args.username, email=email, password=password)
    except ValidationError as exc:
        raise ConfigError("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from exc

    async def run() -> str:
        hasher = PasswordHasher(1)
        try:
            async with open_database(settings) as db:
                await apply_pending(db)
                user = await UserStore(db).create(
                    username=body.username,
                    email=body.email,
                    password_hash=await hasher.hash(body.password),
                    roles=[args.role],
                )
                return user.id
        finally:
            hasher.close()

    user_id = asyncio.run(run())
    print(f"created {args.role} {args.username} ({user_id})")


def _scan(args: argparse.Namespace, settings: Settings) -> None:
    from pathlib import Path

    from server.catalog.scan_cli import run_scan

    path = Path(args.path).expanduser()
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder")
    if args.watch is not None and args.watch <= 0:
        raise ConfigError("--watch needs a positive number of seconds")
    asyncio.run(run_scan(settings, path, watch_every=args.watch))
