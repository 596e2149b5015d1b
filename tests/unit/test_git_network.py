"""The network steps of adapters.git against misbehaving servers on loopback: each one ends within its time limit,
can be stopped, is refused for non-public addresses unless the platform allows them, and is worded without
the exception behind it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import git
from chalicelib.errors import Unprocessable
from chalicelib.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
# What a message must never show: exception classes, errno texts, tracebacks.
INTERNALS = ("Error", "Exception", "Errno", "Traceback", "refused", "dulwich", "urllib3")


class LoopbackServer:
    """A TCP server on 127.0.0.1 that accepts every connection and then does what `behaviour` does with it."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._behaviour = behaviour
        self._closed = threading.Event()
        self._accepted: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._accepted.append(connection)
            threading.Thread(target=self._behaviour, args=(connection,), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for connection in self._accepted:
            connection.close()


def _never_answer(connection: socket.socket) -> None:
    """Reads whatever comes and never writes a byte."""
    try:
        while connection.recv(4096):
            pass
    except OSError:
        pass


def _trickle_http(connection: socket.socket) -> None:
    """Answers an HTTP request one byte every 0.1 s, forever: every single read succeeds in time."""
    try:
        connection.recv(4096)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\nX-Pad: " + (
            b"a" * 100_000
        ):
            connection.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass


@pytest.fixture
def loopback_server() -> Iterator[Callable[[Callable[[socket.socket], None]], LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(behaviour: Callable[[socket.socket], None]) -> LoopbackServer:
        servers.append(LoopbackServer(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def private_allowed(settings_env: Callable[..., None]) -> Callable[..., None]:
    """The embedded stack's setting: loopback servers may be used. Small time limits on top."""
    settings_env(DEPLOYD_ALLOW_PRIVATE_ADDRESSES="true", DEPLOYD_GIT_TIMEOUT_SECONDS="1")
    return settings_env


@pytest.mark.parametrize(
    ("behaviour", "scheme"),
    [(_never_answer, "git"), (_never_answer, "http"), (_trickle_http, "http")],
    ids=["git-silent", "http-silent", "http-trickling"],
)
def test_resolving_against_a_server_that_never_finishes_answering_ends_at_the_time_limit(
    loopback_server: Any, private_allowed: Any, behaviour: Callable[[socket.socket], None], scheme: str
) -> None:
    # Given a server that accepts connections and then never finishes an answer, and a 1-second limit
    server = loopback_server(behaviour)
    url = f"{scheme}://127.0.0.1:{server.port}/site.git"

    # When a branch is resolved there
    started = time.monotonic()
    with pytest.raises(Unprocessable) as raised:
        git.resolve(url, "main")
    elapsed = time.monotonic() - started

    # Then it fails at about the limit, not never, saying the repository did not answer in time
    assert server.connections >= 1
    assert elapsed < 4, elapsed
    assert raised.value.message == f"repository {url} did not answer within 1 second"


def test_a_clone_from_a_silent_server_ends_at_its_own_time_limit(
    loopback_server: Any, private_allowed: Any, tmp_path: Path
) -> None:
    # Given a silent git server
    server = loopback_server(_never_answer)
    url = f"git://127.0.0.1:{server.port}/site.git"

    # When a commit is checked out with a 1-second limit
    started = time.monotonic()
    with pytest.raises(git.RepositoryUnavailable) as raised:
        git.checkout(url, "a" * 40, tmp_path / "src", timeout=1)

    # Then the clone is abandoned at about a second, as timed out
    assert time.monotonic() - started < 4
    assert raised.value.reason == "timed_out"


def test_a_clone_stops_as_soon_as_it_is_asked_to(loopback_server: Any, private_allowed: Any, tmp_path: Path) -> None:
    # Given a silent git server, and a clone allowed a minute
    server = loopback_server(_never_answer)
    asked = time.monotonic() + 0.5

    # When the build is cancelled half a second in
    started = time.monotonic()
    with pytest.raises(git.StepStopped):
        git.checkout(
            f"git://127.0.0.1:{server.port}/site.git", "a" * 40, tmp_path / "src", 60, lambda: time.monotonic() > asked
        )

    # Then the clone ends right away, not at its time limit
    assert time.monotonic() - started < 3


def test_a_repository_that_cannot_be_reached_is_worded_without_internals(private_allowed: Any) -> None:
    # Given a port nothing listens on
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/site.git"

    # When a branch is resolved there
    with pytest.raises(Unprocessable) as raised:
        git.resolve(url, "main")

    # Then the message gives a plain reason, and none of the exception behind it
    assert raised.value.message == f"repository {url} cannot be reached"
    assert not any(word in raised.value.message for word in INTERNALS)


def test_a_clone_of_something_that_is_not_a_repository_is_worded_without_internals(
    tmp_path: Path, private_allowed: Any
) -> None:
    # Given a directory that is not a git repository
    (tmp_path / "plain").mkdir()

    # When it is cloned
    with pytest.raises(git.RepositoryUnavailable) as raised:
        git.checkout(str(tmp_path / "plain"), "a" * 40, tmp_path / "src", timeout=10)

    # Then it is "not found or not a git repository", without internals
    assert raised.value.message == f"repository {tmp_path / 'plain'} was not found or is not a git repository"
    assert not any(word in raised.value.message for word in INTERNALS)


def test_credentials_in_a_repository_url_are_never_repeated(private_allowed: Any) -> None:
    # Given a URL carrying a token, to a port nothing listens on
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    # When it cannot be read
    with pytest.raises(Unprocessable) as raised:
        git.resolve(f"https://deploy:s3cret-token@127.0.0.1:{port}/site.git", "main")

    # Then the message names the repository without its credentials
    assert "s3cret-token" not in raised.value.message
    assert f"https://127.0.0.1:{port}/site.git" in raised.value.message


def test_a_loopback_repository_is_refused_where_private_addresses_are_not_allowed(
    loopback_server: Any, settings_env: Callable[..., None]
) -> None:
    # Given the default platform (AWS): private addresses not allowed, and a git server on loopback
    settings_env(DEPLOYD_ALLOW_PRIVATE_ADDRESSES=None)
    server = loopback_server(_never_answer)

    # When a branch is resolved there
    with pytest.raises(Unprocessable) as raised:
        git.resolve(f"git://127.0.0.1:{server.port}/site.git", "main")

    # Then it is refused without a connection being made
    assert "loopback, private, link-local or reserved address" in raised.value.message
    assert server.connections == 0


def test_the_fetching_process_checks_the_address_a_name_resolves_to_when_it_connects(loopback_server: Any) -> None:
    # Given a git server on loopback, named through "localhost" (as a name re-pointed after validation would be)
    server = loopback_server(_never_answer)
    request = {"operation": "refs", "url": f"git://localhost:{server.port}/site.git", "allow_private": False}

    # When the fetching process is asked for the refs directly, past the validation in adapters.git
    answer = subprocess.run(
        [sys.executable, "-m", "chalicelib.adapters.git_remote"],
        cwd=ROOT,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=30,
    )

    # Then it refuses at connection time: no connection reaches the server
    assert json.loads(answer.stdout) == {"error": "non_public"}
    assert server.connections == 0


@pytest.fixture
def refs_then_silence(git_repo: Any) -> Iterator[tuple[str, threading.Event]]:
    """A smart-HTTP git server for a real repository that advertises its refs after 2 seconds the first time
    (at once after that: the fetch reads them again), then never answers a fetch; the event is set once a
    fetch arrived."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    repo = git_repo({"index.html": "v1"})
    advertisement = subprocess.run(
        ["git", "upload-pack", "--stateless-rpc", "--advertise-refs", str(repo.path)], capture_output=True, check=True
    ).stdout
    released = threading.Event()
    fetched = threading.Event()
    advertised = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not advertised.is_set():  # slow the first time: most of the time limit goes on reading the refs
                advertised.set()
                time.sleep(2)
            body = b"001e# service=git-upload-pack\n0000" + advertisement
            self.send_response(200)
            self.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            fetched.set()
            released.wait(60)  # the fetch: never answered while the test runs

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site.git", fetched
    released.set()
    server.shutdown()
    server.server_close()


def test_reading_the_refs_and_fetching_the_commit_share_one_time_limit(
    refs_then_silence: tuple[str, threading.Event], settings_env: Callable[..., None]
) -> None:
    # Given a server that takes 2 seconds to advertise main's commit, then hangs on the fetch; a 3-second limit
    settings_env(DEPLOYD_ALLOW_PRIVATE_ADDRESSES="true", DEPLOYD_GIT_TIMEOUT_SECONDS="3")
    url, fetched = refs_then_silence

    # When the branch is resolved (refs, then the commit)
    started = time.monotonic()
    with pytest.raises(Unprocessable) as raised:
        git.resolve(url, "main")

    # Then the refs were read and the fetch began, and the whole resolution ended at about three seconds, not
    # two plus three for the fetch
    elapsed = time.monotonic() - started
    assert fetched.is_set()
    assert elapsed < 4.5, elapsed
    assert raised.value.message == f"repository {url} did not answer within 3 seconds"


def test_by_default_a_trigger_gives_up_on_a_repository_before_api_gateway_gives_up_on_the_trigger(
    settings_env: Callable[..., None],
) -> None:
    # Given the default settings, as on AWS
    settings_env(DEPLOYD_GIT_TIMEOUT_SECONDS=None)

    # Then even GitLab's trigger (the ref check, then the resolution: two limits) ends before API Gateway's 29 s
    assert 2 * get_settings().git_timeout_seconds < 29
