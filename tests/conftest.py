"""Root test configuration: fake credentials and a test resource prefix, set before any app import.

Nothing here may reach a real AWS account: credentials are fake and every endpoint used by the tests
is a moto server on loopback (integration, e2e) or moto's in-process mock (unit).
"""

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DEPLOYD_RESOURCE_PREFIX": "deployd-test",
        "DEPLOYD_ADMIN_TOKEN": "test-admin-token",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

# Fixtures every suite may use (log_lines: the Powertools Logger's lines as dicts).
pytest_plugins = ["tests.support.log_capture"]


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: its groups go out in the order set below
        config.option.loadscopereorder = False


# pytest-xdist 3.8 names an item's group by appending `@group` to item._nodeid, which pytest 9.2 no longer reads
# (a node id is item._id now): its xdist_group marks grouped nothing, and every test went out on its own. The
# groups are appended here, where xdist's scheduler reads them.
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups and order for `make test`'s parallel run (pytest-xdist, --dist loadgroup).

    A test module with a fixture of its own wider than a test (a stack of its own, a packaged template) is one
    group, so that fixture is made once, on one worker; every other test goes out on its own, which keeps both
    workers busy to the end. The unit tests' moto mocks reset moto's backends, which the integration suite's
    in-process stack shares within its process: the groups go out in order (xdist's reordering by size is off,
    above), unit tests first, so a worker that has started that stack gets no unit test after it. Within each
    suite the modules' groups, the longest pieces of work, go out before the single tests.
    """
    _name_schemathesis_cases(items)
    if not getattr(config.option, "loadgroup", False):  # not a pytest-xdist worker of `--dist loadgroup`
        return
    tests = Path(__file__).parent
    suites = ("unit", "integration", "e2e")

    def group(item: pytest.Item) -> str | None:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else []
        own = any(d and d[-1].scope in ("module", "class", "package") for d in definitions)
        return Path(str(item.path)).relative_to(tests).as_posix() if own else None

    def rank(item: pytest.Item) -> tuple[int, int]:
        suite = Path(str(item.path)).relative_to(tests).parts[0]
        return (suites.index(suite) if suite in suites else len(suites), 0 if group(item) else 1)

    items.sort(key=rank)  # stable: a module's tests keep their order
    for item in items:
        name = group(item)
        if name is not None:
            item.add_marker(pytest.mark.xdist_group(name))
            item._id = NodeId.parse(f"{item.nodeid}@{name}")  # type: ignore[attr-defined]


def _name_schemathesis_cases(items: list[pytest.Item]) -> None:
    """Give each Schemathesis operation test its own node id, `test[GET /path]`. pytest 9.2 builds a node id from
    the test's original name and its parametrization, while Schemathesis puts the operation in the name only: every
    operation's test then had one id, and pytest-xdist ran one of them (tests/e2e/test_openapi_fuzz.py)."""
    for item in items:
        if getattr(item, "operation_label", None) and item.nodeid.rsplit("::", 1)[-1] != item.name:
            item._id = item.parent.id.child(item.name)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def build_shared_root() -> Iterator[Path]:
    """Where tests and builds meet: builds run as an unprivileged uid of their own (when the tests run as root),
    which cannot enter tmp_path."""
    root = Path(tempfile.mkdtemp(prefix="deployd-test-shared-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared_dir(build_shared_root: Path) -> Path:
    """A directory the test and its builds both write to (gates, marks, started files)."""
    directory = Path(tempfile.mkdtemp(dir=build_shared_root))
    directory.chmod(0o1777)
    return directory


@pytest.fixture
def silent_server() -> Iterator[Callable[[str], str]]:
    """A loopback server that accepts connections and never answers; returns a URL of the given scheme to it."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield lambda scheme: f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/site.git"
    listener.close()
    for connection in held:
        connection.close()
