"""Finishes the function package `chalice package` writes (OUT_DIR/deployment.zip): it ships bytecode.

Chalice zips sources only, and a function's code directory is read-only on Lambda, so without bytecode every
cold start compiles botocore, PynamoDB and the app again and can keep none of it. Here every module gets its
`__pycache__/<name>.<cache tag>.pyc` next to it, compiled by the packaging interpreter, which must therefore be
the functions' runtime (LAMBDA_RUNTIME): bytecode is specific to a minor version, and the interpreter looks only
for its own cache tag. The .pyc files are unchecked-hash ones (PEP 552): the interpreter takes them without
looking at the source's modification time, which a zip keeps to two seconds only and Lambda need not keep at all.
The package is immutable, so nothing can make them stale.

awscrt then moves out of the package into a Lambda layer of its own (OUT_DIR/awscrt-layer.zip, the layer
AWSCRT_LAYER of the template): botocore imports it whenever it is importable, some 80-90 ms of every cold start,
and only the functions that sign CloudFront KeyValueStore calls (SigV4A, which botocore signs only with awscrt)
need it; the template attaches the layer to those (function_resources.KEY_VALUE_STORE_SIGNERS). The others sign
SigV4 with botocore's own code.

`python -m chalicelib.infra.deployment_zip OUT_DIR` rewrites OUT_DIR/deployment.zip in place and writes
OUT_DIR/awscrt-layer.zip (`make package`).
"""

from __future__ import annotations

import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from chalicelib.infra.function_resources import AWSCRT_LAYER_PACKAGE, LAMBDA_RUNTIME

PACKAGE = "deployment.zip"
# A Python layer's modules go under python/ (Lambda adds /opt/python to the path).
LAYER_ROOT = "python/"


class RuntimeMismatch(Exception):
    """The packaging interpreter is not the functions' runtime: its bytecode would be ignored on Lambda."""


def interpreter_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def check_interpreter(runtime: str = LAMBDA_RUNTIME) -> None:
    running = interpreter_runtime()
    if running != runtime:
        raise RuntimeMismatch(f"package with {runtime}, the functions' runtime (this is {running})")


def bytecode_name(source: str) -> str:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.cpython-311.pyc`, where this interpreter looks for it."""
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc")


def compile_package(package: Path, runtime: str = LAMBDA_RUNTIME) -> list[str]:
    """Add every module's bytecode to `package`, in place; the sources that do not compile (they would not
    import either), which get none."""
    check_interpreter(runtime)
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="deployd-package-") as scratch:
        compiled = Path(scratch) / PACKAGE
        with zipfile.ZipFile(package) as source, zipfile.ZipFile(compiled, "w", zipfile.ZIP_DEFLATED) as target:
            existing = set(source.namelist())
            for entry in source.infolist():
                data = source.read(entry)
                target.writestr(entry, data)
                if entry.is_dir() or not entry.filename.endswith(".py"):
                    continue
                name = bytecode_name(entry.filename)
                if name in existing:
                    continue
                bytecode = _compile(Path(scratch), entry.filename, data)
                if bytecode is None:
                    failed.append(entry.filename)
                    continue
                info = zipfile.ZipInfo(name, date_time=entry.date_time)
                info.external_attr = entry.external_attr
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, bytecode)
        compiled.replace(package)
    return failed


def is_awscrt(name: str) -> bool:
    """An entry of the awscrt distribution: its package, its extension module, its metadata."""
    top, slash, _ = name.partition("/")
    if slash:
        return top == "awscrt" or (top.startswith("awscrt-") and top.endswith(".dist-info"))
    return top.startswith("_awscrt.")


def split_awscrt(package: Path, layer: Path) -> list[str]:
    """Move awscrt's entries from `package` into the layer package `layer` (under python/); the names moved."""
    moved: list[str] = []
    with tempfile.TemporaryDirectory(prefix="deployd-package-") as scratch:
        kept = Path(scratch) / PACKAGE
        with (
            zipfile.ZipFile(package) as source,
            zipfile.ZipFile(kept, "w", zipfile.ZIP_DEFLATED) as target,
            zipfile.ZipFile(layer, "w", zipfile.ZIP_DEFLATED) as layered,
        ):
            for entry in source.infolist():
                data = source.read(entry)
                if not is_awscrt(entry.filename):
                    target.writestr(entry, data)
                    continue
                moved.append(entry.filename)
                info = zipfile.ZipInfo(LAYER_ROOT + entry.filename, date_time=entry.date_time)
                info.external_attr = entry.external_attr
                info.compress_type = zipfile.ZIP_DEFLATED
                layered.writestr(info, data)
        kept.replace(package)
    return moved


def _compile(scratch: Path, name: str, source: bytes) -> bytes | None:
    path = scratch / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source)
    cfile = scratch / "pyc"
    try:
        py_compile.compile(
            str(path),
            cfile=str(cfile),
            dfile=name,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        return None
    finally:
        path.unlink()
    return cfile.read_bytes()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m chalicelib.infra.deployment_zip OUT_DIR", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    try:
        failed = compile_package(out_dir / PACKAGE)
    except RuntimeMismatch as exc:
        print(exc, file=sys.stderr)
        return 2
    for name in failed:
        print(f"not compiled (no bytecode shipped): {name}", file=sys.stderr)
    if not split_awscrt(out_dir / PACKAGE, out_dir / AWSCRT_LAYER_PACKAGE):
        print(f"awscrt is not in {out_dir / PACKAGE}: the KeyValueStore signers need it", file=sys.stderr)
        return 2
    print(out_dir / AWSCRT_LAYER_PACKAGE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
