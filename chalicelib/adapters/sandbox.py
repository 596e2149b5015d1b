"""Where a local build runs: its own PID and mount namespaces, an unprivileged uid of its own, and a workspace
only that uid can enter; and the bookkeeping that lets the embedded stack end every build it started.

When deployd runs as root, each build command runs as
  setpriv --pdeathsig KILL  unshare --pid --fork --mount-proc --kill-child  setpriv --reuid U ... --pdeathsig KILL  sh
so it sees only its own processes (a fresh /proc), holds no capability, and is uid U, leased from BUILD_UIDS for
this build alone. When its top process ends the kernel kills everything else in its PID namespace; when unshare is
killed (cancel, time limit, stop) --kill-child kills the namespace's init; when the stack dies, PDEATHSIG kills
unshare. docs/build-sandbox.md says what a build can and cannot reach.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from chalicelib.settings import get_settings

# A fixed range above any account a distribution hands out (and above the usual /etc/subuid ranges): a uid here
# owns nothing on the machine but the workspace of the one build that leases it.
BUILD_UIDS = range(1_100_000, 1_100_000 + 4096)
# Leases are flock()s on one file per uid: they hold across threads and across every deployd on this machine
# (the test suite runs several stacks at once), and the kernel releases them when their holder dies.
LEASE_DIRECTORY = Path(tempfile.gettempdir()) / "deployd-build-uids"
# World-writable directories a build may leave files in outside its workspace.
SHARED_WRITABLE_DIRECTORIES = (tempfile.gettempdir(), "/var/tmp", "/dev/shm")
STACK_DIRECTORY_PREFIX = "deployd-stack-"
OWNER_FILE = "owner"


class Isolation(NamedTuple):
    """How builds are isolated on this machine, decided once per process.

    `namespaces`: a PID and mount namespace of their own (as root; in a user namespace otherwise).
    `own_uid`: a leased uid of their own (only root can switch).
    """

    namespaces: bool
    own_uid: bool

    @property
    def warning(self) -> str | None:
        if self.own_uid and self.namespaces:
            return None
        if not self.own_uid:
            what = "builds run as the stack's own user, so a build can read and write every file this user can"
        else:
            what = "builds run as an unprivileged user of their own"
        if not self.namespaces:
            what += (
                "; namespaces cannot be created here, so builds see the machine's processes and a process a build "
                "starts in a new session can outlive it"
            )
        return f"deployd's builds are not fully isolated: {what} (docs/build-sandbox.md)"

    def command(self, argv: list[str], uid: int | None) -> list[str]:
        """`argv` wrapped so that it runs isolated; `uid` is the leased build uid (when `own_uid`)."""
        wrapped = argv
        if self.own_uid:
            assert uid is not None
            # A uid change clears the parent-death signal (the one --kill-child set): set it again after it.
            wrapped = [
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--pdeathsig", "KILL", "--", *wrapped,
            ]  # fmt: skip
        if self.namespaces:
            in_a_user_namespace = [] if self.own_uid else ["--user", "--map-root-user"]
            wrapped = [
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                *in_a_user_namespace,
                "--",
                *wrapped,
            ]
        if wrapped is argv:
            return argv
        return ["setpriv", "--pdeathsig", "KILL", *wrapped] if self.namespaces else wrapped


def _works(command: list[str]) -> bool:
    try:
        return subprocess.run([*command, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def isolation() -> Isolation:
    """The strongest isolation this machine allows, each part tried once for real (a container may run deployd
    as root and still refuse namespaces)."""
    root = os.geteuid() == 0
    own_uid = root and _works(["setpriv", f"--reuid={BUILD_UIDS[0]}", f"--regid={BUILD_UIDS[0]}", "--clear-groups"])
    user_namespace = [] if root else ["--user", "--map-root-user"]
    namespaces = _works(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *user_namespace, "--"])
    return Isolation(namespaces=namespaces, own_uid=own_uid)


class BuildUid:
    """One uid of BUILD_UIDS, leased to one build until `release`."""

    def __init__(self, uid: int, lease_fd: int) -> None:
        self.uid = uid
        self._lease_fd = lease_fd
        self._workspace: Path | None = None

    def take_over(self, workspace: Path) -> None:
        """Give the build the workspace (checked out by trusted code as root): owned by its uid, mode 0700."""
        for directory, subdirectories, files in os.walk(workspace):
            for name in (directory, *(os.path.join(directory, n) for n in subdirectories + files)):
                os.lchown(name, self.uid, self.uid)
        os.chmod(workspace, 0o700)
        self._workspace = workspace

    def release(self) -> None:
        """Remove what the build left in the machine's shared temporary directories (its workspace is its runner's
        to remove), then free the uid: the next build to lease it must not find this one's files."""
        for shared in SHARED_WRITABLE_DIRECTORIES:
            try:
                entries = list(os.scandir(shared))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_uid != self.uid or Path(entry.path) == self._workspace:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    continue
        os.close(self._lease_fd)  # closing the file drops the flock


def _lease_directory() -> Path:
    LEASE_DIRECTORY.mkdir(mode=0o700, exist_ok=True)
    status = LEASE_DIRECTORY.lstat()
    if status.st_uid != os.geteuid() or status.st_mode & 0o077:
        raise RuntimeError(f"{LEASE_DIRECTORY} must be a directory of this user with mode 0700")
    return LEASE_DIRECTORY


@contextmanager
def build_uid() -> Iterator[BuildUid | None]:
    """A uid no other running build holds (None when builds cannot switch user: deployd is not root)."""
    if not isolation().own_uid:
        yield None
        return
    directory = _lease_directory()
    for uid in BUILD_UIDS:
        fd = os.open(directory / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        lease = BuildUid(uid, fd)
        try:
            yield lease
        finally:
            lease.release()
        return
    raise RuntimeError(f"all {len(BUILD_UIDS)} build uids are in use")


def _namespace_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                status = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(status.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def _namespace_members(unshare_pid: int) -> list[int]:
    """Every process in the PID namespace unshare made (seen from here): its child, the namespace's init, and all
    that init's descendants, including those that left the process group (setsid)."""
    inits = _children_of(unshare_pid)
    namespaces = {ns for ns in map(_namespace_of, inits) if ns and ns != _namespace_of(os.getpid())}
    if not namespaces:
        return []
    return [
        int(entry.name)
        for entry in os.scandir("/proc")
        if entry.name.isdigit() and _namespace_of(int(entry.name)) in namespaces
    ]


def signal_build(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send `sig` to every process of a running build.

    SIGKILL goes to unshare's process group: unshare dies and --kill-child ends the namespace. Any other signal
    (SIGTERM: stop cleanly) goes to each process inside the namespace, not to unshare, which would die of it at
    once and take the namespace with it before the build could clean up. The namespace's init receives it only
    if it handles it (a shell with a `trap`), as a PID namespace's init does.
    """
    whole_group = sig == signal.SIGKILL or not isolation().namespaces
    for pid in [process.pid] if whole_group else _namespace_members(process.pid):
        try:
            os.killpg(pid, sig) if whole_group else os.kill(pid, sig)
        except ProcessLookupError:
            pass


# --- workspaces ---


def create_workspace(deployment_id: int) -> Path:
    """A fresh directory for one build: in the stack's own directory (claim_stack_directory) when a stack runs."""
    root = get_settings().build_workspace_root or None
    return Path(tempfile.mkdtemp(prefix=f"deployd-build-{deployment_id}-", dir=root))


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _owner_alive(directory: Path) -> bool:
    try:
        pid_text, started = (directory / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return True  # no owner recorded (yet): not provably stale, so it is left alone
    return _start_time(int(pid_text)) == started


def remove_stale_stack_directories(parent: Path | None = None) -> list[Path]:
    """Remove the stack directories (and the build workspaces in them) of stacks that are no longer running."""
    removed = []
    for directory in Path(parent or tempfile.gettempdir()).glob(f"{STACK_DIRECTORY_PREFIX}*"):
        if directory.is_dir() and not directory.is_symlink() and not _owner_alive(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def claim_stack_directory(parent: Path | None = None) -> Path:
    """A directory for this process's build workspaces, recording its owner so a later start-up can tell it is stale.

    Mode 0711: builds pass through to their own workspace but cannot list the others.
    """
    directory = Path(tempfile.mkdtemp(prefix=STACK_DIRECTORY_PREFIX, dir=parent))
    directory.chmod(0o711)
    pid = os.getpid()
    (directory / OWNER_FILE).write_text(f"{pid} {_start_time(pid)}\n")
    return directory


# --- running builds ---


class RunningBuilds:
    """The build processes this process started and that still run, so stopping the stack can end them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes[process.pid] = process

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.pop(process.pid, None)

    def kill_all(self) -> int:
        """SIGKILL every running build's process group; unshare's --kill-child then ends its whole namespace."""
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        return len(processes)


running_builds = RunningBuilds()
