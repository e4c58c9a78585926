"""The analysts' copy of the suspicious transactions in PostgreSQL.

The recorder writes each batch of `fraud-suspicious` and the Kafka offsets after it in one
PostgreSQL transaction, and on start seeks to the offsets PostgreSQL holds: a crash between the two
cannot lose a row or write one twice (and `transaction_id` is the primary key besides). Analysts
query by card, user, site and time, and record their verdict, which also goes to `fraud-feedback`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import psycopg2
import psycopg2.extras

SCHEMA = """
CREATE TABLE IF NOT EXISTS suspicious_transactions (
    transaction_id  text PRIMARY KEY,
    card_id         text NOT NULL,
    user_id         text NOT NULL,
    site_id         text NOT NULL,
    value           numeric(12, 2) NOT NULL,
    country         text NOT NULL,
    location_id     text NOT NULL,
    transaction_at  timestamptz NOT NULL,
    decided_at      timestamptz NOT NULL,
    outcome         text NOT NULL,
    score           double precision,
    model_version   text NOT NULL,
    reasons         jsonb NOT NULL,
    features        jsonb NOT NULL,
    verdict         text CHECK (verdict IN ('confirmed', 'cancelled')),
    verdict_by      text,
    verdict_at      timestamptz
);
CREATE INDEX IF NOT EXISTS suspicious_card_time ON suspicious_transactions (card_id, transaction_at);
CREATE INDEX IF NOT EXISTS suspicious_user_time ON suspicious_transactions (user_id, transaction_at);
CREATE INDEX IF NOT EXISTS suspicious_site_time ON suspicious_transactions (site_id, transaction_at);
CREATE INDEX IF NOT EXISTS suspicious_time ON suspicious_transactions (transaction_at);
CREATE TABLE IF NOT EXISTS kafka_offsets (
    consumer   text NOT NULL,
    topic      text NOT NULL,
    partition  integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);
"""
FILTERS = ("card_id", "user_id", "site_id")


# What a database client file holds (credentials/<inventory>/fraud-analyst-db.properties, and the
# recorder's /etc/rastro/fraud-recorder-db.properties): key=value lines.
DATABASE_KEYS = ("hosts", "port", "dbname", "user", "password")


def database_config(path: Union[str, Path]) -> dict[str, str]:
    """libpq connection keywords from a database client file: every host of `hosts` is tried and the
    one that takes writes is used (target_session_attrs=read-write), so a promoted standby is found
    after a failover; sslrootcert is taken relative to the file's folder. Errors name the file and
    the missing key."""
    from rastro_producer.kafka_config import read_properties
    props = read_properties(path)
    missing = [k for k in DATABASE_KEYS if not props.get(k)]
    if missing:
        raise ValueError(f"{path}: {missing[0]}: missing (needs {', '.join(DATABASE_KEYS)})")
    hosts = [h.strip() for h in props["hosts"].split(",") if h.strip()]
    conf = {"host": ",".join(hosts), "port": ",".join([props["port"]] * len(hosts)), "dbname": props["dbname"],
            "user": props["user"], "password": props["password"], "target_session_attrs": "read-write",
            "connect_timeout": props.get("connect_timeout", "5"), "sslmode": props.get("sslmode", "verify-full")}
    if props.get("sslrootcert"):
        root = Path(props["sslrootcert"])
        conf["sslrootcert"] = str(root if root.is_absolute() else Path(path).resolve().parent / root)
    return conf


class Store:
    def __init__(self, dsn: str = "", consumer: str = "rastro-fraud-recorder", **connect: str) -> None:
        """dsn: a libpq connection string; or the keywords of database_config()."""
        self.conn = psycopg2.connect(dsn, **connect)
        self.consumer = consumer

    @classmethod
    def from_file(cls, path: Union[str, Path], consumer: str = "rastro-fraud-recorder") -> "Store":
        return cls(consumer=consumer, **database_config(path))

    def migrate(self) -> None:
        """The tables, if missing. Every recorder does this when it starts: an advisory lock makes
        them take turns (two concurrent CREATE TABLE IF NOT EXISTS can collide)."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('rastro-fraud schema'))")
            cur.execute(SCHEMA)

    def offsets(self, topic: str) -> dict[int, int]:
        """partition → the next offset to read, as last committed with the rows."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT partition, next_offset FROM kafka_offsets WHERE consumer = %s AND topic = %s",
                        (self.consumer, topic))
            return dict(cur.fetchall())

    def record(self, rows: Iterable[dict[str, Any]], topic: str, next_offsets: dict[int, int]) -> int:
        """Insert the suspicious records (those already there are left alone) and the offsets after
        them, in one transaction. Returns how many rows were new."""
        new = 0
        with self.conn, self.conn.cursor() as cur:
            for r in rows:
                tx = r["transaction"]
                cur.execute(
                    """INSERT INTO suspicious_transactions (transaction_id, card_id, user_id, site_id, value, country,
                           location_id, transaction_at, decided_at, outcome, score, model_version, reasons, features)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (transaction_id) DO NOTHING""",
                    (r["transaction_id"], r["card_id"], r["user_id"], r["site_id"], r["value"], tx["country"],
                     tx["location_id"], tx["timestamp"], r["decided_at"], r["outcome"], r["score"], r["model_version"],
                     json.dumps(r["reasons"]), json.dumps(r["features"])))
                new += cur.rowcount
            for partition, offset in next_offsets.items():
                cur.execute(
                    """INSERT INTO kafka_offsets (consumer, topic, partition, next_offset) VALUES (%s, %s, %s, %s)
                       ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset""",
                    (self.consumer, topic, partition, offset))
        return new

    def find(self, since: Optional[datetime] = None, until: Optional[datetime] = None, limit: int = 100,
             **filters: Optional[str]) -> list[dict[str, Any]]:
        """Suspicious transactions by card, user and/or site and a time range, newest first."""
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: not a filter (use {', '.join(FILTERS)})")
        where, args = [], []
        for name in FILTERS:
            if filters.get(name):
                where.append(f"{name} = %s")
                args.append(filters[name])
        if since:
            where.append("transaction_at >= %s")
            args.append(since)
        if until:
            where.append("transaction_at < %s")
            args.append(until)
        sql = "SELECT * FROM suspicious_transactions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY transaction_at DESC LIMIT %s"
        with self.conn, self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, (*args, limit))
            return [dict(r) for r in cur.fetchall()]

    def verdict(self, transaction_id: str, verdict: str, analyst: str) -> dict[str, Any]:
        """An analyst's verdict on one suspicious transaction; KeyError if there is none such."""
        if verdict not in ("confirmed", "cancelled"):
            raise ValueError(f"verdict: must be confirmed or cancelled (got {verdict!r})")
        with self.conn, self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("""UPDATE suspicious_transactions SET verdict = %s, verdict_by = %s, verdict_at = now()
                           WHERE transaction_id = %s RETURNING *""", (verdict, analyst, transaction_id))
            row = cur.fetchone()
        if row is None:
            raise KeyError(f"transaction_id: no suspicious transaction {transaction_id!r}")
        return dict(row)

    def labels(self) -> list[dict[str, Any]]:
        """Analysts' verdicts as training rows: {"features": [...], "fraud": bool} (make train --labels)."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT features, verdict FROM suspicious_transactions WHERE verdict IS NOT NULL ORDER BY verdict_at")
            return [{"features": f, "fraud": v == "confirmed"} for f, v in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()
