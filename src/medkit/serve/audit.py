"""Append-only audit log: who did what, when, with which model version, and the sha256 of the input (never the
input itself). Each record carries the hash of the previous one, so a deleted or edited row breaks the chain
(:func:`verify_chain`); database triggers refuse UPDATE and DELETE on the table in the first place."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session

from medkit.serve.db import AuditEvent, utcnow

GENESIS = "0" * 64
# Appends must be serialised until the appending transaction commits, or two concurrent transactions would both
# link to the same predecessor. In one process a lock held until commit/rollback does it; across processes (several
# uvicorn workers, a `medkit models` command next to a running server) the database's own lock does it: a
# transaction-scoped advisory lock on PostgreSQL, the database write lock on SQLite.
_CHAIN_LOCK = threading.Lock()
_PG_LOCK_KEY = 0x6D65646B6974  # "medkit"
# A write that changes nothing: SQLite takes its single write lock at the first write of a transaction (and the
# Python driver opens the transaction there), so the chain head read after it is the latest one, and any other
# process wanting to append waits (busy timeout) until this transaction ends. No row matches, so the table's
# append-only triggers do not fire.
_SQLITE_WRITE_LOCK = text("UPDATE audit_events SET id = id WHERE 0")


def _release(session: Session, transaction: object) -> None:
    if getattr(transaction, "parent", None) is None and session.info.pop("medkit_audit_lock", False):
        session.info.pop("medkit_db_lock", None)
        _CHAIN_LOCK.release()


def lock_chain(db: Session) -> None:
    """Serialise audit appends until ``db``'s transaction ends, in this process and across processes.

    Call it first in a transaction that writes other rows before its audit record: taking this lock before the
    database's write lock keeps one lock order everywhere (no deadlock with SQLite's single writer).
    """
    if not db.info.get("medkit_audit_lock"):
        _CHAIN_LOCK.acquire()
        db.info["medkit_audit_lock"] = True
        event.listen(db, "after_transaction_end", _release)
    if not db.info.get("medkit_db_lock"):
        dialect = db.get_bind().dialect.name
        if dialect == "postgresql":
            db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        elif dialect == "sqlite":
            db.execute(_SQLITE_WRITE_LOCK)
        db.info["medkit_db_lock"] = True


def _digest(prev: str, ev: AuditEvent | SimpleNamespace) -> str:
    payload = json.dumps([prev, ev.at.isoformat(), ev.actor, ev.role, ev.action, ev.outcome, ev.model_name,
                          ev.model_version, ev.input_sha256, ev.detail], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Actor:
    username: str
    role: str = ""


def record(db: Session, actor: Actor | str, action: str, *, outcome: str = "ok", model_name: str | None = None,
           model_version: int | None = None, input_sha256: str | None = None, detail: str = "") -> dict[str, Any]:
    """Add one audit event to ``db`` (committed with the caller's transaction, so it lands with the action or not at all).

    ``detail`` must hold no patient data: counts, file types, error classes only. Returns the inserted row.
    """
    return record_many(db, [{"actor": actor, "action": action, "outcome": outcome, "model_name": model_name,
                             "model_version": model_version, "input_sha256": input_sha256, "detail": detail}])[0]


def record_many(db: Session, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append several events in order with one read of the chain head and one INSERT (group commit).

    Each item holds the keyword arguments of :func:`record` plus ``actor``. The rows go in as one Core
    ``INSERT ... VALUES`` executemany, not as ORM objects: the unit of work's bookkeeping cost more than the rest of
    a one-patient prediction's audit commit. Same rows, same hashes as :func:`record`. Returns the inserted rows.
    """
    lock_chain(db)
    if any(isinstance(o, AuditEvent) for o in db.new):
        db.flush()  # ORM events added earlier in this transaction come first in the chain
    conn = db.connection()  # Core statements on the session's connection: no ORM compile/execute layer
    prev = conn.execute(_HEAD).scalar() or GENESIS
    rows = []
    for kw in events:
        who = kw["actor"] if isinstance(kw["actor"], Actor) else Actor(str(kw["actor"]))
        row = {"at": utcnow(), "actor": who.username[:64], "role": who.role, "action": kw["action"],
               "outcome": kw.get("outcome", "ok"), "model_name": kw.get("model_name"),
               "model_version": kw.get("model_version"), "input_sha256": kw.get("input_sha256"),
               "detail": str(kw.get("detail", ""))[:500], "prev_hash": prev}
        row["hash"] = prev = _digest(prev, SimpleNamespace(**row))
        rows.append(row)
    conn.execute(_INSERT, rows)
    return rows


_TABLE = AuditEvent.__table__
_HEAD = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_INSERT = insert(_TABLE)  # type: ignore[arg-type]


def verify_chain(db: Session) -> tuple[bool, int | None]:
    """Check every record's hash and link. Returns ``(ok, id of the first broken record or None)``."""
    prev = GENESIS
    for ev in db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        if ev.prev_hash != prev or _digest(prev, ev) != ev.hash:
            return False, ev.id
        prev = ev.hash
    return True, None


def input_hash(data: bytes | str | object) -> str:
    """sha256 of an input: raw bytes as they are, other objects as canonical JSON."""
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, str):
        raw = data.encode()
    else:
        raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()
