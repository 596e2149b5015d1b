"""How answers are printed: the API's objects as JSON (--json), a table on a terminal, tab-separated lines
elsewhere (one record a line, no header, for `cut` and `awk`), and `key: value` lines for one object."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console() -> Console:
    return Console(highlight=False)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], empty: str) -> None:
    """`columns`: (field, heading) pairs."""
    if not rows:
        if is_terminal():
            click.echo(empty)
        return
    if not is_terminal():
        for row in rows:
            click.echo("\t".join(cell(row.get(name)) for name, _ in columns))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for _, heading in columns:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(name)) for name, _ in columns))
    console().print(table)


def print_fields(item: dict[str, Any], names: Sequence[str] | None = None) -> None:
    keys = list(names) if names is not None else list(item)
    width = max(len(k) for k in keys)
    for key in keys:
        click.echo(f"{key + ':':<{width + 1}} {cell(item.get(key))}")
