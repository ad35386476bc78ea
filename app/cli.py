"""The ``optaas`` command: serve (embedded), api, worker, migrate, reconcile, keys."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from app.settings import LOOPBACK_HOSTS, Settings, get_settings


def _configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def cmd_migrate(args: argparse.Namespace) -> int:
    from app import migrate

    settings = get_settings()
    if args.down is not None:
        migrate.downgrade(settings.resolved_database_url, args.down)
    else:
        migrate.upgrade(settings.resolved_database_url, args.revision)
    print(f"database at {args.down or args.revision}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from app.db import unit_of_work
    from app.keys import repository, service

    settings = get_settings()
    with unit_of_work(settings.resolved_database_url) as session:
        if args.keys_command == "create":
            key, secret = service.create_key(session, args.name)
            print(f"created API key {key.id} (name {key.name!r}); it is shown only once:")
            print(secret)
        elif args.keys_command == "list":
            for key in repository.all_keys(session):
                state = "revoked" if key.revoked_at else "active"
                print(f"{key.id}  {key.prefix}  {state:8s}  {key.name}")
        else:
            key = service.revoke_key(session, args.ident)
            print(f"revoked {key.id} ({key.name})")
    return 0


def cmd_reconcile(_: argparse.Namespace) -> int:
    from app.jobs.reconciler import reconcile_once

    print(reconcile_once(get_settings()))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    _refuse_open_without_auth(settings, args.host)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    os.environ["OPTAAS_WORKER_QUEUE"] = args.queues
    from workers.routing import GPU_QUEUE, consumed_queues
    from workers.solvers.backend import gpu_available

    if args.queues == GPU_QUEUE and not gpu_available():
        print("no GPU: cupy is not installed or sees no CUDA device", file=sys.stderr)
        return 2
    import workers.tasks  # noqa: F401 - registers the tasks
    from workers.celery_app import celery_app, configure

    configure(get_settings())

    name = args.hostname or f"{args.queues}-{uuid.uuid4().hex[:8]}@%h"
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            consumed_queues(args.queues),
            "--concurrency",
            str(args.concurrency),
            "--hostname",
            name,
            "--loglevel",
            args.loglevel,
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    return 0


def _refuse_open_without_auth(settings: Settings, host: str) -> None:
    if not settings.auth_enabled and host not in LOOPBACK_HOSTS:
        raise SystemExit(
            f"refusing to listen on {host} with authentication off; "
            "set OPTAAS_AUTH_ENABLED=true or bind to 127.0.0.1"
        )


def _die_with_parent() -> None:
    # The embedded worker must not outlive `optaas serve`, even if serve is SIGKILLed.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    """API + real Celery worker processes + SQLite + a filesystem broker: nothing to install."""
    import uvicorn

    os.environ["OPTAAS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if "OPTAAS_AUTH_ENABLED" not in os.environ:
        # Open on loopback for a local quick start; anything else needs keys.
        os.environ["OPTAAS_AUTH_ENABLED"] = "false" if args.host in LOOPBACK_HOSTS else "true"
    settings = _reload_settings()
    _refuse_open_without_auth(settings, args.host)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    from app import migrate
    from app.main import create_app

    migrate.upgrade(settings.resolved_database_url)

    server = _serve_server_class()(
        uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level="warning")
    )

    def give_up() -> None:
        server.should_exit = True

    env = {**os.environ, "OPTAAS_BLAS_THREADS": str(settings.blas_threads)}
    # The CPU worker runs jobs; the studies worker answers asks, so that a study's user does not
    # wait behind a long job.
    supervisors = [
        _WorkerSupervisor(worker_argv(queue, concurrency), env=env, on_give_up=give_up)
        for queue, concurrency in (("cpu", args.workers), ("studies", 1))
    ]
    for supervisor in supervisors:
        supervisor.start()
    auth = "on" if settings.auth_enabled else "off (loopback only)"
    print(
        f"optaas: http://{args.host}:{args.port}  data in {settings.data_dir}  "
        f"database {settings.resolved_database_url}  "
        f"{args.workers} worker process(es) + 1 for study asks  auth {auth}",
        flush=True,
    )
    try:
        server.run()
    finally:
        # Each worker's warm shutdown takes seconds; they run side by side, not one after another.
        for supervisor in supervisors:
            supervisor.request_stop()
        for supervisor in supervisors:
            supervisor.stop()
    return 1 if any(supervisor.gave_up for supervisor in supervisors) else 0


def worker_argv(
    queue: str, concurrency: int, *, loglevel: str = "WARNING", hostname: str | None = None
) -> list[str]:
    """The command line of ``optaas worker`` in this interpreter."""
    argv = [sys.executable, "-m", "app.cli", "worker", "--queues", queue]
    argv += ["--concurrency", str(concurrency), "--loglevel", loglevel]
    return argv + ([] if hostname is None else ["--hostname", hostname])


class _WorkerSupervisor:
    """Keeps the embedded Celery worker running: a worker that dies is started again.

    A worker that keeps dying right after start (a broken install, a bad setting) is a crash
    loop, not bad luck: after ``MAX_QUICK_DEATHS`` in a row the supervisor calls ``on_give_up``
    (serve then exits with an error) instead of spinning.
    """

    MAX_QUICK_DEATHS = 5
    QUICK_S = 10.0

    def __init__(
        self, argv: list[str], env: dict[str, str], on_give_up: Callable[[], None]
    ) -> None:
        self._argv, self._env, self._on_give_up = argv, env, on_give_up
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._quick_deaths = 0
        self._terminated: subprocess.Popen[bytes] | None = None
        self.gave_up = False
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _spawn(self) -> None:
        self._started = time.monotonic()
        self._proc = subprocess.Popen(
            self._argv,
            env=self._env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _watch(self) -> None:
        log = logging.getLogger("optaas.serve")
        while not self._stopping.wait(1.0):
            assert self._proc is not None
            code = self._proc.poll()
            if code is None or self._stopping.is_set():
                continue
            lived = time.monotonic() - self._started
            self._quick_deaths = self._quick_deaths + 1 if lived < self.QUICK_S else 0
            if self._quick_deaths >= self.MAX_QUICK_DEATHS:
                log.error(
                    "the worker process died %d times within %.0f s of starting (last exit "
                    "code %s); giving up",
                    self._quick_deaths,
                    self.QUICK_S,
                    code,
                )
                self.gave_up = True
                self._on_give_up()
                return
            log.warning("worker process exited with %s; starting a new one", code)
            self._spawn()

    def request_stop(self) -> None:
        """Stop restarting the worker and ask it to shut down (SIGTERM); :meth:`stop` waits."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc is not self._terminated and proc.poll() is None:
            proc.terminate()
            self._terminated = proc

    def stop(self) -> None:
        self.request_stop()
        self._thread.join(timeout=5)
        # the watcher may have started a worker just before it saw the stop
        self.request_stop()
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def _serve_server_class() -> type:
    import uvicorn

    class ServeServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after its shutdown, which would kill `serve` before
        it stops its worker processes; here the signal only ends the server."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {
                s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    return ServeServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optaas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="embedded: API + workers, SQLite, no server to install")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    serve.add_argument("--data-dir", default="optaas-data")
    serve.set_defaults(func=cmd_serve)

    api = sub.add_parser("api", help="the HTTP API (production: OPTAAS_DATABASE_URL, BROKER_URL)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser(
        "worker", help="a Celery worker: cpu (jobs, and study asks as a fallback), gpu or studies"
    )
    worker.add_argument("--queues", choices=["cpu", "gpu", "studies"], default="cpu")
    worker.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    worker.add_argument("--hostname", default=None, help="Celery node name")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)

    mig = sub.add_parser("migrate", help="apply Alembic migrations")
    mig.add_argument("--revision", default="head")
    mig.add_argument("--down", default=None, metavar="REV", help="downgrade to REV (e.g. base)")
    mig.set_defaults(func=cmd_migrate)

    rec = sub.add_parser("reconcile", help="one reconciler pass (re-send lost jobs)")
    rec.set_defaults(func=cmd_reconcile)

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it as the last line")
    create.add_argument("--name", required=True)
    keys_sub.add_parser("list", help="list keys (never the secrets)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("ident")
    keys.set_defaults(func=cmd_keys)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging(os.environ.get("OPTAAS_LOG_LEVEL", "INFO"))
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
