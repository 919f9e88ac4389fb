"""Throughput of `pgadvisor.analysis.analyze` against bare `pglast.parse_sql`.

Generates distinct, realistic normalized statements (as pg_stat_statements stores them: constants replaced by
`$n`) of many shapes (point lookups, joins, CTEs, OFFSET pagination, sub-queries, aggregates, UPDATE, DELETE,
INSERT ... ON CONFLICT), then times, over the same list:

- `pglast.parse_sql` alone (the floor: PostgreSQL's parser plus pglast's Python tree),
- `analyze(text)` without a catalog,
- `analyze(text, schema)` with a catalog covering every table,
- `fingerprint(text)`, one part of `analyze`, for scale.

Run: `python benchmarks/bench_analysis.py` (options: `--count`, `--repeat`, `--seed`; the smallest run, the
test's: `--count 20 --repeat 1`).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pglast
from machine import facts, load_now

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgadvisor.analysis import ColumnDef, IndexDef, Schema, TableDef, analyze
from pgadvisor.sqltree import fingerprint

TABLES: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "name", "status", "created_at", "deleted_at", "org_id", "last_login"),
    "orders": ("id", "user_id", "status", "total", "created_at", "shipped_at", "note", "region"),
    "order_items": ("id", "order_id", "product_id", "qty", "price", "created_at"),
    "products": ("id", "sku", "title", "price", "category_id", "stock", "updated_at"),
    "categories": ("id", "parent_id", "name", "slug"),
    "events": ("id", "user_id", "kind", "payload", "created_at", "session_id"),
    "sessions": ("id", "user_id", "token", "expires_at", "ip", "created_at"),
    "payments": ("id", "order_id", "amount", "status", "provider", "created_at"),
    "orgs": ("id", "name", "plan", "created_at"),
    "invoices": ("id", "org_id", "number", "amount", "due_on", "paid_at", "status"),
}
FOREIGN: dict[tuple[str, str], tuple[str, str]] = {
    ("orders", "users"): ("user_id", "id"),
    ("order_items", "orders"): ("order_id", "id"),
    ("order_items", "products"): ("product_id", "id"),
    ("products", "categories"): ("category_id", "id"),
    ("events", "users"): ("user_id", "id"),
    ("sessions", "users"): ("user_id", "id"),
    ("payments", "orders"): ("order_id", "id"),
    ("users", "orgs"): ("org_id", "id"),
    ("invoices", "orgs"): ("org_id", "id"),
}


def build_schema() -> Schema:
    """A catalog for every generated table: `id` primary key, timestamps and keys NOT NULL."""
    tables = []
    for name, columns in TABLES.items():
        cols = tuple(
            ColumnDef(c, "bigint" if c.endswith("id") else "text", not_null=c in ("id", "created_at", "status"))
            for c in columns
        )
        indexes = (IndexDef(f"{name}_pkey", ("id",), unique=True),)
        tables.append(TableDef(name, cols, primary_key=("id",), indexes=indexes))
    return Schema(tuple(tables))


class Generator:
    """Random statement shapes over the tables above, with fresh `$n` numbering per statement."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.param = 0

    def p(self) -> str:
        """The next parameter."""
        self.param += 1
        return f"${self.param}"

    def cols(self, table: str, k: int, alias: str | None = None) -> list[str]:
        """`k` distinct columns of `table`, optionally qualified."""
        picked = self.rnd.sample(TABLES[table], min(k, len(TABLES[table])))
        return [f"{alias}.{c}" if alias else c for c in picked]

    def predicate(self, table: str, alias: str | None = None) -> str:
        """One WHERE term of a random kind."""
        col = self.cols(table, 1, alias)[0]
        kind = self.rnd.randrange(10)
        if kind < 4:
            return f"{col} = {self.p()}"
        if kind == 4:
            return f"{col} IN ({', '.join(self.p() for _ in range(self.rnd.randint(2, 6)))})"
        if kind == 5:
            return f"{col} = ANY({self.p()})"
        if kind == 6:
            return f"{col} > {self.p()}"
        if kind == 7:
            return f"{col} IS NULL"
        if kind == 8:
            return f"lower({col}) = {self.p()}"
        return f"{col} BETWEEN {self.p()} AND {self.p()}"

    def where(self, table: str, alias: str | None = None, k: int | None = None) -> str:
        """A conjunction of 1..4 terms."""
        terms = [self.predicate(table, alias) for _ in range(k or self.rnd.randint(1, 4))]
        return " AND ".join(terms)

    def lookup(self) -> str:
        """Point or filtered lookup on one table."""
        t = self.rnd.choice(list(TABLES))
        cols = ", ".join(self.cols(t, self.rnd.randint(1, 5)))
        return f"SELECT {cols} FROM {t} WHERE {self.where(t)}"

    def join(self) -> str:
        """Two- or three-way join along foreign keys."""
        (child, parent), (fk, pk) = self.rnd.choice(list(FOREIGN.items()))
        cols = ", ".join(self.cols(child, 2, "c") + self.cols(parent, 2, "p"))
        kind = self.rnd.choice(["JOIN", "LEFT JOIN"])
        sql = f"SELECT {cols} FROM {child} c {kind} {parent} p ON p.{pk} = c.{fk} WHERE {self.where(child, 'c', 2)}"
        if self.rnd.random() < 0.5:
            sql += f" AND {self.predicate(parent, 'p')}"
        return sql + f" ORDER BY c.created_at DESC LIMIT {self.p()}" if "created_at" in TABLES[child] else sql

    def pagination(self) -> str:
        """ORDER BY + LIMIT + OFFSET listing."""
        t = self.rnd.choice(list(TABLES))
        order = ", ".join(f"{c} {self.rnd.choice(['ASC', 'DESC'])}" for c in self.cols(t, self.rnd.randint(1, 2)))
        star = "*" if self.rnd.random() < 0.3 else ", ".join(self.cols(t, 3))
        return f"SELECT {star} FROM {t} WHERE {self.where(t, k=1)} ORDER BY {order} LIMIT {self.p()} OFFSET {self.p()}"

    def cte(self) -> str:
        """Aggregate in a CTE, joined back."""
        (child, parent), (fk, pk) = self.rnd.choice(list(FOREIGN.items()))
        return (
            f"WITH agg AS (SELECT {fk}, count(*) AS n, max(id) AS last_id FROM {child} "
            f"WHERE {self.where(child, k=1)} GROUP BY {fk}) "
            f"SELECT p.{pk}, agg.n FROM {parent} p JOIN agg ON agg.{fk} = p.{pk} "
            f"WHERE agg.n > {self.p()} ORDER BY agg.n DESC LIMIT {self.p()}"
        )

    def subquery(self) -> str:
        """EXISTS / IN / NOT IN sub-queries."""
        (child, parent), (fk, pk) = self.rnd.choice(list(FOREIGN.items()))
        form = self.rnd.randrange(3)
        if form == 0:
            inner = f"EXISTS (SELECT 1 FROM {child} c WHERE c.{fk} = p.{pk} AND {self.predicate(child, 'c')})"
        elif form == 1:
            inner = f"p.{pk} IN (SELECT {fk} FROM {child} WHERE {self.where(child, k=1)})"
        else:
            inner = f"p.{pk} NOT IN (SELECT {fk} FROM {child})"
        return f"SELECT {', '.join(self.cols(parent, 3, 'p'))} FROM {parent} p WHERE {inner}"

    def aggregate(self) -> str:
        """GROUP BY report."""
        t = self.rnd.choice(list(TABLES))
        group = self.cols(t, 1)[0]
        return (
            f"SELECT {group}, count(*), sum(id) FROM {t} WHERE {self.where(t, k=1)} "
            f"GROUP BY {group} HAVING count(*) > {self.p()} ORDER BY 2 DESC"
        )

    def update(self) -> str:
        """UPDATE by key or by filter."""
        t = self.rnd.choice(list(TABLES))
        sets = ", ".join(f"{c} = {self.p()}" for c in self.cols(t, self.rnd.randint(1, 3)))
        return f"UPDATE {t} SET {sets} WHERE {self.where(t, k=self.rnd.randint(1, 2))}"

    def delete(self) -> str:
        """DELETE, sometimes with USING."""
        (child, parent), (fk, pk) = self.rnd.choice(list(FOREIGN.items()))
        if self.rnd.random() < 0.5:
            return f"DELETE FROM {child} WHERE {self.where(child, k=2)}"
        return f"DELETE FROM {child} c USING {parent} p WHERE p.{pk} = c.{fk} AND {self.predicate(parent, 'p')}"

    def insert(self) -> str:
        """INSERT ... ON CONFLICT ... RETURNING."""
        t = self.rnd.choice(list(TABLES))
        cols = ["id", *self.cols(t, 3)]
        cols = list(dict.fromkeys(cols))
        values = ", ".join(self.p() for _ in cols)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:]) or "id = EXCLUDED.id"
        return (f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({values}) "
                f"ON CONFLICT (id) DO UPDATE SET {sets} RETURNING id")

    def statement(self) -> str:
        """One statement of a weighted random shape."""
        self.param = 0
        shapes: list[tuple[Callable[[], str], int]] = [
            (self.lookup, 30), (self.join, 20), (self.pagination, 10), (self.cte, 8), (self.subquery, 8),
            (self.aggregate, 6), (self.update, 8), (self.delete, 4), (self.insert, 6),
        ]
        make = self.rnd.choices([s for s, _ in shapes], weights=[w for _, w in shapes])[0]
        return make()


def generate(count: int, seed: int) -> list[str]:
    """`count` distinct statements."""
    gen = Generator(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(gen.statement(), None)
    return list(seen)


def rate(fn: Callable[[str], object], texts: list[str], repeat: int) -> float:
    """Best statements-per-second over `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main() -> None:
    """Generate, check, time, and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    print(f"{facts()}, pglast {pglast.__version__}")

    texts = generate(args.count, args.seed)
    schema = build_schema()
    errors = [t for t in texts if analyze(t, schema).parse_error]
    if errors:
        raise SystemExit(f"{len(errors)} generated statements failed to parse, e.g. {errors[0]!r}")
    mean_len = statistics.mean(len(t) for t in texts)

    parse_rate = rate(pglast.parse_sql, texts, args.repeat)
    rows = [
        ("pglast.parse_sql (floor)", parse_rate),
        ("analyze(text)", rate(analyze, texts, args.repeat)),
        ("analyze(text, schema)", rate(lambda t: analyze(t, schema), texts, args.repeat)),
        ("fingerprint(text)", rate(fingerprint, texts, args.repeat)),
    ]
    print(f"{len(texts):,} distinct statements, mean {mean_len:.0f} chars, best of {args.repeat} passes; "
          f"{load_now()}")
    print(f"{'what':<28} {'statements/s':>13} {'us/statement':>13} {'x parse':>8}")
    for name, value in rows:
        print(f"{name:<28} {value:>13,.0f} {1e6 / value:>13.1f} {parse_rate / value:>8.2f}")
    print(f"a top-1,000 workload: {1000 / rows[2][1]:.2f} s with a catalog")


if __name__ == "__main__":
    main()
