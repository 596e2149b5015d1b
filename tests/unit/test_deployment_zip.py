"""The function package ships bytecode: unpacked into a read-only directory, as Lambda does, it imports without
compiling a module (chalicelib.infra.deployment_zip, the last step of `make package`).

The package here is a small one laid out as `chalice package` writes it (the app, chalicelib, dependencies at the
root, every entry dated 1980-01-01); each import runs in a fresh interpreter with only the package and the standard
library on its path, writing no bytecode, like a cold start on Lambda.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.infra.deployment_zip import RuntimeMismatch, compile_package, interpreter_runtime, split_awscrt

CHALICE_DATE = (1980, 1, 1, 0, 0, 0)
SOURCES = {
    "app.py": "from chalicelib import routes\nimport thirdparty\n\napp = routes.answer(thirdparty.core.VALUE)\n",
    "chalicelib/__init__.py": "",
    "chalicelib/routes.py": "def answer(value):\n    return {'answer': value}\n",
    "thirdparty/__init__.py": "from thirdparty import core\n",
    "thirdparty/core.py": "VALUE = 42\n",
    # Shipped by some distributions, imported by none: it cannot compile, so it gets no bytecode
    "thirdparty/legacy.py": "print 'python 2'\n",
    "thirdparty/data.json": '{"not": "python"}\n',
}

# Lists the modules compiled from source below the package while `import app` runs.
CHILD = """
import importlib.machinery, json, sys

root = sys.argv[1]
sys.path.insert(0, root)
compiled = []
to_code = importlib.machinery.SourceFileLoader.source_to_code


def recording(self, data, path, *args, **kwargs):
    if str(path).startswith(root):
        compiled.append(str(path)[len(root) + 1 :])
    return to_code(self, data, path, *args, **kwargs)


importlib.machinery.SourceFileLoader.source_to_code = recording
import app

print(json.dumps({"app": app.app, "compiled": sorted(compiled)}))
"""


def chalice_like_package(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in SOURCES.items():
            info = zipfile.ZipInfo(name, date_time=CHALICE_DATE)
            info.external_attr = 0o644 << 16
            package.writestr(info, text)
    return path


def cold_import(package: Path, where: Path) -> dict:
    """`import app` from the unpacked package in a fresh interpreter: standard library and package only (-S, -I),
    no bytecode written (-B), the code directory read-only."""
    where.mkdir()
    with zipfile.ZipFile(package) as unpacked:
        unpacked.extractall(where)  # files dated now, not as in the zip: as good as any time Lambda gives them
    for path in (where, *where.rglob("*")):
        path.chmod(0o555 if path.is_dir() else 0o444)
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-B", "-c", CHILD, str(where)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    answer: dict = json.loads(result.stdout)
    return answer


def test_the_unpacked_package_imports_without_compiling_a_module(tmp_path: Path) -> None:
    # Given a package as chalice writes it: every cold start compiles the app and its dependencies
    package = chalice_like_package(tmp_path / "deployment.zip")
    before = cold_import(package, tmp_path / "before")
    assert before["compiled"] == [
        "app.py",
        "chalicelib/__init__.py",
        "chalicelib/routes.py",
        "thirdparty/__init__.py",
        "thirdparty/core.py",
    ]

    # When packaging adds its bytecode
    compile_package(package)

    # Then the same import compiles nothing and still works
    after = cold_import(package, tmp_path / "after")
    assert after == {"app": {"answer": 42}, "compiled": []}


def test_every_entry_is_shipped_unchanged_and_only_what_compiles_gets_bytecode(tmp_path: Path) -> None:
    package = chalice_like_package(tmp_path / "deployment.zip")

    not_compiled = compile_package(package)

    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(package) as shipped:
        assert {name: shipped.read(name).decode() for name in SOURCES} == SOURCES
        assert {name for name in shipped.namelist() if name not in SOURCES} == {
            f"__pycache__/app.{tag}.pyc",
            f"chalicelib/__pycache__/__init__.{tag}.pyc",
            f"chalicelib/__pycache__/routes.{tag}.pyc",
            f"thirdparty/__pycache__/__init__.{tag}.pyc",
            f"thirdparty/__pycache__/core.{tag}.pyc",
        }
    assert not_compiled == ["thirdparty/legacy.py"]


def test_packaging_refuses_an_interpreter_that_is_not_the_functions_runtime(tmp_path: Path) -> None:
    package = chalice_like_package(tmp_path / "deployment.zip")
    shipped = package.read_bytes()

    with pytest.raises(RuntimeMismatch) as refused:
        compile_package(package, runtime="python3.10")

    assert str(refused.value) == f"package with python3.10, the functions' runtime (this is {interpreter_runtime()})"
    assert package.read_bytes() == shipped


def test_awscrt_moves_to_a_layer_of_its_own_and_the_rest_of_the_package_stays(tmp_path: Path) -> None:
    # Given a package with awscrt (its package, extension module and metadata) and botocore's optional CRT code
    package = tmp_path / "deployment.zip"
    entries = {
        "app.py": "import botocore\n",
        "awscrt/__init__.py": "",
        "awscrt/auth.py": "",
        "_awscrt.abi3.so": "\x7fELF",
        "awscrt-0.38.0.dist-info/METADATA": "Name: awscrt\n",
        "botocore/__init__.py": "",
        "botocore/crt/auth.py": "",
        "boto3/crt.py": "",
    }
    with zipfile.ZipFile(package, "w") as written:
        for name, text in entries.items():
            written.writestr(zipfile.ZipInfo(name, date_time=CHALICE_DATE), text)

    # When awscrt is split off
    moved = split_awscrt(package, tmp_path / "awscrt-layer.zip")

    # Then the layer holds it where Lambda looks for a Python layer's modules, and the package all the rest
    assert sorted(moved) == [
        "_awscrt.abi3.so",
        "awscrt-0.38.0.dist-info/METADATA",
        "awscrt/__init__.py",
        "awscrt/auth.py",
    ]
    with zipfile.ZipFile(tmp_path / "awscrt-layer.zip") as layer:
        assert {name: layer.read(name).decode() for name in layer.namelist()} == {
            f"python/{name}": entries[name] for name in moved
        }
    with zipfile.ZipFile(package) as kept:
        assert sorted(kept.namelist()) == ["app.py", "boto3/crt.py", "botocore/__init__.py", "botocore/crt/auth.py"]
