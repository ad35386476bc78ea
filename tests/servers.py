"""Process managers for the real servers the integration tests run against.

Stdlib only (``require_servers`` imports pytest lazily).  Each server is a
private instance bound to 127.0.0.1 on its own port, with all of its files
(data, sockets, logs) under a caller-supplied base directory, usually a
pytest ``tmp_path``::

    with PostgresServer(tmp_path) as pg, RedisServer(tmp_path) as redis:
        engine = create_engine(pg.url())
        broker = redis.url(0)

PostgreSQL refuses to run as root.  When the tests run as root the cluster is
initialised and run as the ``postgres`` system user (created by the Debian
package) or, failing that, a dedicated ``optaas-pg`` system user created on
demand; the cluster directory is owned by that user and the directories above
it get the "search" bit for others (``o+x``) so that user can reach it.

Both servers are test-only configurations: no durability (PostgreSQL runs with
``fsync=off``; Redis has no RDB/AOF persistence, so a restart loses all keys).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "find_postgres_bin",
    "free_port",
    "require_servers",
    "servers_available",
]

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PG_SUPERUSER = "optaas"
PG_FALLBACK_OS_USER = "optaas-pg"
PG_REQUIRED_BINS = ("initdb", "pg_ctl", "postgres")
_LOG_TAIL_LINES = 40
# sun_path is 108 bytes on Linux; PostgreSQL appends "/.s.PGSQL.<port>".
_MAX_SOCKET_DIR_LEN = 80

# Servers started and not yet stopped: stopped at interpreter exit so a test
# that forgets to stop one (or fails half-way through a fixture) leaves no orphans.
_LIVE: set[PostgresServer | RedisServer] = set()


class ServerError(RuntimeError):
    """A server could not be started or stopped."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin/<name>; "9.6" sorts below "15".
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)


def _is_debian_wrapper(path: str) -> bool:
    # Debian's /usr/bin/{psql,createdb,pg_isready,...} are symlinks to a perl
    # dispatcher (pg_wrapper); prefer the real binary next to initdb.
    return os.path.basename(os.path.realpath(path)) == "pg_wrapper"


def find_postgres_bin(name: str) -> str:
    """Locate a PostgreSQL executable.

    Looks in ``PATH`` first (ignoring Debian's ``pg_wrapper`` shims when a real
    binary exists), then in ``/usr/lib/postgresql/*/bin`` picking the highest
    version.  Raises ``FileNotFoundError`` if there is none.
    """
    on_path = shutil.which(name)
    if on_path and not _is_debian_wrapper(on_path):
        return on_path
    candidates = [
        p
        for p in glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
        if os.path.isfile(p) and os.access(p, os.X_OK)
    ]
    if candidates:
        return max(candidates, key=_version_key)
    if on_path:
        return on_path
    raise FileNotFoundError(
        f"PostgreSQL executable {name!r} not found in PATH or /usr/lib/postgresql/*/bin"
    )


def _pg_bin_near(reference: str, name: str) -> str:
    """``name`` from the same directory as ``reference`` (same major version) if present."""
    sibling = os.path.join(os.path.dirname(reference), name)
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return sibling
    return find_postgres_bin(name)


def servers_available() -> tuple[bool, str]:
    """Whether ``redis-server`` and the PostgreSQL server binaries are installed.

    Returns ``(True, "")`` or ``(False, reason)``.
    """
    missing: list[str] = []
    if shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    for name in PG_REQUIRED_BINS:
        try:
            find_postgres_bin(name)
        except FileNotFoundError:
            missing.append(f"{name} (apt-get install postgresql)")
    if missing:
        return False, "integration servers not installed: missing " + ", ".join(missing)
    if os.geteuid() == 0 and _existing_pg_os_user() is None and shutil.which("useradd") is None:
        return False, (
            "running as root: PostgreSQL needs a non-root system user, but there is no "
            f"'postgres' or '{PG_FALLBACK_OS_USER}' user and no useradd to create one"
        )
    return True, ""


def _ci_enabled() -> bool:
    value = os.environ.get("CI", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def require_servers() -> None:
    """Skip the calling test when the servers are missing -- or fail it under CI.

    With ``CI`` set (e.g. ``CI=true``) a missing server is an error, so CI can
    never silently skip the integration suite.  Usable from tests and fixtures.
    """
    import pytest  # lazy: the rest of this module is stdlib only

    ok, reason = servers_available()
    if ok:
        return
    if _ci_enabled():
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "<log is empty>"


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # PG* variables (PGHOST, PGDATA, PGPORT, PGUSER, ...) from the caller's
    # environment must not redirect our tools to some other cluster.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


def _terminate(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send ``sig``; SIGKILL if the process is still alive after ``timeout``; reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when we die.

    Backstop for a test process killed hard (SIGKILL, ``os._exit`` from
    pytest-timeout's thread method), where neither fixtures nor atexit run.
    subprocess calls it after the uid switch (which would clear the setting).
    Best effort: ``None`` where prctl is unavailable.  libc is resolved here, in
    the parent, so the forked child only makes the system call.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG

    return preexec


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


# ------------------------------------------------------------------------- postgres


def _existing_pg_os_user() -> pwd.struct_passwd | None:
    for name in ("postgres", PG_FALLBACK_OS_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _pg_os_user() -> pwd.struct_passwd:
    """The non-root account PostgreSQL runs as when we are root (created if needed)."""
    user = _existing_pg_os_user()
    if user is not None:
        return user
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServerError(
            "running as root and there is no 'postgres' user to run PostgreSQL as "
            "(and no useradd to create one)"
        )
    nologin = shutil.which("nologin") or "/usr/sbin/nologin"
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", nologin, PG_FALLBACK_OS_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 9):  # 9: user already exists (a concurrent creator)
        raise ServerError(
            f"useradd {PG_FALLBACK_OS_USER} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return pwd.getpwnam(PG_FALLBACK_OS_USER)


def _make_traversable(directory: Path, uid: int, gid: int) -> None:
    """Give ``uid`` search permission on ``directory`` and all its parents.

    Adds only the "others may search" bit (``o+x``, not ``o+r``) where the
    directory is neither owned by ``uid``/``gid`` nor already searchable.
    """
    for d in [directory, *directory.parents]:
        st = d.stat()
        if st.st_uid == uid and st.st_mode & stat.S_IXUSR:
            continue
        if st.st_gid == gid and st.st_mode & stat.S_IXGRP:
            continue
        if st.st_mode & stat.S_IXOTH:
            continue
        os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


class _ChildServer:
    """What both servers share: a child process in ``_proc``, started by ``start`` and stopped
    by ``stop``, usable as a context manager."""

    _proc: subprocess.Popen[bytes] | None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


class PostgresServer(_ChildServer):
    """A private PostgreSQL cluster on 127.0.0.1 under ``base_dir/postgres``.

    The superuser is ``optaas`` with trust authentication.  ``start()`` runs
    ``initdb`` once, then the postmaster as a child process (stderr goes to
    ``base_dir/postgres.log``); ``stop()`` is a fast shutdown.  Calling
    ``start()`` again after ``stop()`` reuses the cluster and its data.
    """

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = Path(base_dir).absolute()
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.cluster_dir = self.base_dir / "postgres"
        self.data_dir = self.cluster_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self.initdb_log_path = self.base_dir / "postgres-initdb.log"
        self.user = PG_SUPERUSER
        self._socket_dir: Path | None = None
        self._own_socket_dir = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        # Resolve symlinks so pg_ctl/postgres/createdb come from the same (real) bin dir.
        self._initdb = os.path.realpath(find_postgres_bin("initdb"))
        self._pg_ctl = _pg_bin_near(self._initdb, "pg_ctl")
        self._postgres = _pg_bin_near(self._initdb, "postgres")
        self._run_as: pwd.struct_passwd | None = _pg_os_user() if os.geteuid() == 0 else None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PostgresServer 127.0.0.1:{self.port} {self.cluster_dir} {state}>"

    # -- public API

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise ServerError("socket directory is only known once the cluster is set up")
        return self._socket_dir

    def url(self, database: str = "optaas") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for ``database`` on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "optaas") -> str:
        """libpq connection string, e.g. for ``psycopg.connect``."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def start(self) -> None:
        if self.running:
            return
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run_initdb()
        for attempt in range(3):
            try:
                self._start_postmaster()
                break
            except ServerError:
                # Lost the race for an auto-picked port: try another one.
                if self._fixed_port or attempt == 2 or not self._port_in_use_failure():
                    raise
                self.port = free_port()
        _LIVE.add(self)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is not None and proc.poll() is None:
            # pg_ctl -m fast == SIGINT to the postmaster: abort transactions, disconnect,
            # shut down cleanly.  Fall back to signals if pg_ctl is unhappy.
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self._run(
                    [
                        self._pg_ctl,
                        "stop",
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(int(STOP_TIMEOUT_S)),
                    ],
                    timeout=STOP_TIMEOUT_S + 5,
                )
            _terminate(proc, signal.SIGINT, STOP_TIMEOUT_S)
        self._kill_stale_postmaster()
        if self._own_socket_dir and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def create_database(self, name: str) -> None:
        createdb = _pg_bin_near(self._initdb, "createdb")
        proc = subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise ServerError(
                f"createdb {name!r} on port {self.port} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()}"
            )

    # -- internals

    def _run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        stdout: IO[bytes] | int | None = subprocess.PIPE,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a PostgreSQL tool, as the PostgreSQL OS user when we are root."""
        return subprocess.run(
            list(argv),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=self.cluster_dir,
            env=_clean_env(),
            timeout=timeout,
            check=False,
            **self._user_kwargs(),
        )

    def _user_kwargs(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_dir.mkdir(mode=0o700, exist_ok=True)
        socket_dir = self.cluster_dir / "run"
        if len(str(socket_dir)) > _MAX_SOCKET_DIR_LEN:
            if self._socket_dir is None:
                self._socket_dir = Path(tempfile.mkdtemp(prefix="optaas-pg-"))
                self._own_socket_dir = True
            socket_dir = self._socket_dir
        else:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
            self._socket_dir = socket_dir
        if self._run_as is not None:
            uid, gid = self._run_as.pw_uid, self._run_as.pw_gid
            for d in (self.cluster_dir, socket_dir):
                os.chown(d, uid, gid)
                os.chmod(d, 0o700)
            if self.data_dir.exists():
                os.chown(self.data_dir, uid, gid)
            _make_traversable(self.cluster_dir.parent, uid, gid)
            _make_traversable(socket_dir.parent, uid, gid)

    def _run_initdb(self) -> None:
        with open(self.initdb_log_path, "wb") as log:
            try:
                proc = self._run(
                    [
                        self._initdb,
                        "-D",
                        str(self.data_dir),
                        "-U",
                        self.user,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--no-locale",
                        "--no-sync",
                    ],
                    timeout=120,
                    stdout=log,
                )
            except subprocess.TimeoutExpired as exc:
                raise ServerError(
                    f"initdb timed out; log {self.initdb_log_path}:\n{_tail(self.initdb_log_path)}"
                ) from exc
        if proc.returncode != 0:
            raise ServerError(
                f"initdb failed ({proc.returncode}); log {self.initdb_log_path}:\n"
                f"{_tail(self.initdb_log_path)}"
            )

    def _postmaster_argv(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "log_connections": "off",
            "log_disconnections": "off",
        }
        argv = [self._postgres, "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _start_postmaster(self) -> None:
        self._kill_stale_postmaster()
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting postgres on 127.0.0.1:{self.port}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                self._postmaster_argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.cluster_dir,
                env=_clean_env(),
                start_new_session=True,  # a ^C in the terminal is ours to handle, not its
                preexec_fn=_die_with_parent(signal.SIGQUIT),  # immediate shutdown
                **self._user_kwargs(),
            )
        try:
            self._wait_ready()
        except BaseException:
            proc, self._proc = self._proc, None
            if proc is not None:
                _terminate(proc, signal.SIGINT, 5)
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        pg_isready: str | None
        try:
            pg_isready = _pg_bin_near(self._initdb, "pg_isready")
        except FileNotFoundError:
            pg_isready = None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            rc = self._proc.poll()
            if rc is not None:
                raise ServerError(
                    f"postgres exited with code {rc} during startup (port {self.port}); "
                    f"log {self.log_path}:\n{_tail(self.log_path)}"
                )
            if self._is_ready(pg_isready):
                return
            if time.monotonic() > deadline:
                raise ServerError(
                    f"postgres did not accept connections on 127.0.0.1:{self.port} within "
                    f"{STARTUP_TIMEOUT_S:.0f}s; log {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _is_ready(self, pg_isready: str | None) -> bool:
        if pg_isready is not None:
            proc = subprocess.run(
                [
                    pg_isready,
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    "-d",
                    "postgres",
                    "-t",
                    "2",
                ],
                env=_clean_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
            return proc.returncode == 0
        # No pg_isready: the postmaster logs this once it accepts connections.
        with contextlib.suppress(OSError):
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                if b"ready to accept connections" in f.read():
                    return True
        return False

    def _port_in_use_failure(self) -> bool:
        return "already in use" in _tail(self.log_path, 20)

    def _kill_stale_postmaster(self) -> None:
        """Kill a postmaster still registered in postmaster.pid (e.g. a crashed test run)."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            return  # not running
        if str(self.data_dir).encode() not in cmdline:
            return  # pid reused by something else
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- redis


def _redis_ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(_ChildServer):
    """A private, non-persistent ``redis-server`` on 127.0.0.1 (a child process).

    Logs go to ``base_dir/redis.log``.  ``restart()`` keeps the port and loses
    every key (no RDB, no AOF), like a broker crash.
    """

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = Path(base_dir).absolute()
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.log_path = self.base_dir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server not found in PATH (apt-get install redis-server)")
        self._exe = exe

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer 127.0.0.1:{self.port} {state}>"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        if self.running:
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            try:
                self._start_once()
                break
            except ServerError:
                if (
                    self._fixed_port
                    or attempt == 2
                    or "already in use" not in _tail(self.log_path, 20)
                ):
                    raise
                self.port = free_port()
        # From now on the port is part of this server's identity (restart keeps it).
        self._fixed_port = True
        _LIVE.add(self)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _LIVE.discard(self)
        if proc is not None:
            _terminate(proc, signal.SIGTERM, STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop and start again on the same port; all data is lost."""
        self.stop()
        self.start()

    def _start_once(self) -> None:
        argv = [
            self._exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.base_dir),
            "--daemonize",
            "no",
            "--logfile",
            "",  # log to stdout -> our log file
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting redis-server on 127.0.0.1:{self.port}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.base_dir,
                start_new_session=True,
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )
        try:
            self._wait_ready()
        except BaseException:
            proc, self._proc = self._proc, None
            if proc is not None:
                _terminate(proc, signal.SIGKILL, 5)
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            rc = self._proc.poll()
            if rc is not None:
                raise ServerError(
                    f"redis-server exited with code {rc} during startup (port {self.port}); "
                    f"log {self.log_path}:\n{_tail(self.log_path)}"
                )
            if _redis_ping(self.port):
                return
            if time.monotonic() > deadline:
                raise ServerError(
                    f"redis-server did not answer PING on 127.0.0.1:{self.port} within "
                    f"{STARTUP_TIMEOUT_S:.0f}s; log {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.05)
