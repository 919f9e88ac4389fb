"""Tests of pgadvisor.analysis: a shared catalog description used across the modules."""

from pgadvisor.analysis import ColumnDef, IndexDef, Schema, TableDef


def _cols(*specs: str) -> tuple[ColumnDef, ...]:
    """Columns from `name:type` or `name:type!` (NOT NULL) specs."""
    out = []
    for spec in specs:
        name, _, typ = spec.partition(":")
        out.append(ColumnDef(name, typ.rstrip("!") or "text", not_null=typ.endswith("!")))
    return tuple(out)


SCHEMA = Schema(
    tables=(
        TableDef(
            "users",
            _cols(
                "id:bigint!",
                "email:text!",
                "name:text",
                "status:text!",
                "created_at:timestamptz!",
                "deleted_at:timestamptz",
                "manager_id:bigint",
            ),
            primary_key=("id",),
            indexes=(
                IndexDef("users_pkey", ("id",), unique=True),
                IndexDef("users_email_key", ("email",), unique=True),
                IndexDef("users_lower_email_idx", (None,), expressions=("lower((email)::text)",)),
            ),
        ),
        TableDef(
            "orders",
            _cols(
                "id:bigint!",
                "user_id:bigint",
                "status:text!",
                "total:numeric",
                "created_at:timestamptz!",
                "note:text",
            ),
            primary_key=("id",),
            indexes=(IndexDef("orders_pkey", ("id",), unique=True),),
        ),
        TableDef(
            "items",
            _cols("order_id:bigint!", "line:int!", "sku:text!", "qty:int!"),
            primary_key=("order_id", "line"),
        ),
        TableDef("events", _cols("id:bigint!", "kind:text", "payload:jsonb"), schema="audit", primary_key=("id",)),
        TableDef("orders", _cols("id:bigint!", "archived_on:date"), schema="archive", primary_key=("id",)),
    ),
    search_path=("public", "audit"),
)
"""A small shop: users, orders, items in public; events in audit; a shadowed archive.orders."""
