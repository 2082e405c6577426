"""Many rows as one parameter per column: ``unnest(:a::t[], :b::u[], ...) AS (name, ...)``.

A batch sent this way is one short statement whatever its size, so psycopg and PostgreSQL parse
and plan it once; an IN list or a multi-row VALUES of the same batch is a new, long statement
each time (thousands of placeholders, past psycopg's statement cache) and costs more to send
than to run. Array order is row order, which keeps row locks in the caller's order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, cast, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

Column = tuple[str, TypeEngine[Any] | type[TypeEngine[Any]], list[Any]]


def unnest(*columns: Column) -> Any:
    """A table-valued ``unnest`` of one typed array per ``(name, element type, values)``."""
    arrays: list[ColumnElement[Any]] = [
        cast(bindparam(f"arr_{name}", values, type_=ARRAY(type_)), ARRAY(type_))
        for name, type_, values in columns
    ]
    return (
        func.unnest(*arrays)
        .table_valued(*(name for name, _, _ in columns))
        .render_derived(with_types=False)
    )
