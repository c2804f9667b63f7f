"""The service object behind the API and the UI: database, predictors, predictions with audit, background jobs."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from medkit.core.errors import DataError, MedkitError, SchemaError
from medkit.core.logging import get_logger
from medkit.serve import audit, registry
from medkit.serve.auditq import AuditWriter
from medkit.serve.authcache import TokenCache
from medkit.serve.batching import Batcher, batchable
from medkit.serve.db import ApiToken, Job, ModelVersion, RegisteredModel, User, create_engine, session_factory, utcnow
from medkit.serve.errors import NotFound
from medkit.serve.limits import TokenBucket
from medkit.serve.migrate import upgrade
from medkit.serve.predictors import Loader, PredictorCache
from medkit.serve.security import Principal, SessionCodec, create_user, sha256_hex, token_lookup
from medkit.serve.settings import ServeSettings

log = get_logger("medkit.serve")
JOB_CHUNK = 64
# How long a resolved (name, version) -> model version answer is reused. Changes made through this process (API,
# web UI, registry functions on its session factory) take effect at once; changes made by another process (the
# `medkit models` command, other workers) within this many seconds.
RESOLVE_TTL_S = 2.0
_AUTH_TABLES = (ApiToken.__table__, User.__table__)


def declared_columns(pillar: str, ref: dict[str, Any]) -> list[str]:
    """The per-row columns a clinical or treatment bundle declares (``inputs.columns`` or ``inputs.features``)."""
    if pillar not in ("clinical", "treatment"):
        return []
    spec = ref.get("inputs", {}).get("columns") or ref.get("inputs", {}).get("features") or []
    return [c if isinstance(c, str) else str(c.get("name")) for c in spec if isinstance(c, str | dict)]


def check_rows(rows: Any, declared: list[str]) -> None:
    """Every row must carry every declared column: a key left out is refused (422 naming row and column), never
    filled in by the model's imputer. An explicit null is passed on; the model decides whether it accepts it."""
    if not isinstance(rows, list):
        return
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            missing = [c for c in declared if c not in row]
            if missing:
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise SchemaError(f"row {i + 1} has no '{missing[0]}'{more}", where=f"rows[{i}].{missing[0]}",
                                  fix="send every column the model declares (GET /api/v1/models/{name}); "
                                      "use null for a value that was not measured")


@dataclass
class Served:
    """A prediction and the model version that produced it."""

    model: dict[str, Any]
    result: dict[str, Any]
    input_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "result": self.result, "input_sha256": self.input_sha256}


def _actor(p: Principal) -> audit.Actor:
    return audit.Actor(p.username, p.role)


def merge_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Join per-chunk outputs: ``predictions`` lists are concatenated, other keys kept from the first chunk."""
    if parts and all(isinstance(p.get("predictions"), list) for p in parts):
        merged = {k: v for k, v in parts[0].items() if k != "predictions"}
        merged["predictions"] = [row for p in parts for row in p["predictions"]]
        return merged
    return {"batches": parts}


@dataclass
class Service:
    settings: ServeSettings
    engine: Engine
    sf: sessionmaker
    codec: SessionCodec
    predictors: PredictorCache
    login_bucket: TokenBucket
    executor: ThreadPoolExecutor
    auditor: AuditWriter
    batcher: Batcher = field(default_factory=Batcher)
    tokens: TokenCache = field(default_factory=TokenCache)
    _resolved: dict[tuple[str, str, int | None], tuple[int, float, dict[str, Any], str]] = field(default_factory=dict)
    _registry_gen: int = 0
    _closed: bool = field(default=False)

    @classmethod
    def start(cls, settings: ServeSettings, loaders: Mapping[str, Loader] | None = None, *,
              sweep_jobs: bool = True) -> Service:
        settings = settings.checked()
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.db_url)
        upgrade(engine)
        assert settings.secret_key is not None
        sf = session_factory(engine)
        svc = cls(settings=settings, engine=engine, sf=sf, codec=SessionCodec(settings.secret_key),
                  predictors=PredictorCache(loaders), login_bucket=TokenBucket(settings.login_per_min / 60.0,
                                                                                 settings.login_per_min),
                  executor=ThreadPoolExecutor(max_workers=settings.job_workers, thread_name_prefix="medkit-job"),
                  auditor=AuditWriter(lambda: svc.sf))
        svc.tokens = TokenCache(settings.token_cache_s)
        event.listen(sf, "after_flush", svc._registry_touched)
        event.listen(sf, "after_flush", svc._auth_touched)
        event.listen(sf, "do_orm_execute", svc._auth_statement)
        event.listen(sf, "after_commit", svc._auth_committed)
        if sweep_jobs:  # worker processes skip it: a restarting worker must not fail its siblings' jobs
            svc._fail_stale_jobs()
        return svc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.batcher.close()
            self.auditor.close()  # every queued audit record is written before the engine goes
            self.engine.dispose()

    # -- users -----------------------------------------------------------------------------
    def ensure_dev_admin(self) -> str | None:
        """In dev mode with no users, create ``admin`` with a random password and return that password."""
        with self.sf.begin() as db:
            audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
            if db.execute(select(User.id).limit(1)).first() is not None:
                return None
            password = secrets.token_urlsafe(12)
            create_user(db, "admin", password, "admin")
            audit.record(db, audit.Actor("system"), "user.create", detail="dev admin role=admin")
            return password

    def _fail_stale_jobs(self) -> None:
        # Jobs are threads of this process; any left running by a previous process will never finish.
        with self.sf.begin() as db:
            for job in db.execute(select(Job).where(Job.status.in_(("queued", "running")))).scalars():
                job.status, job.error, job.finished_at = "failed", "server restarted before the job finished", utcnow()

    # -- API tokens ------------------------------------------------------------------------
    def _auth_touched(self, session: Any, _ctx: Any) -> None:
        # Any write to a token or a user (revocation, password change or reset, role or state) ends every cached
        # token answer in this process before the writing request returns (see authcache): now, and again at
        # commit, so that a lookup made between the flush and the commit (which still saw the old row) is dropped.
        if any(isinstance(o, ApiToken | User) for o in (*session.dirty, *session.deleted)):
            session.info["medkit_auth_written"] = True
            self.tokens.clear()

    def _auth_statement(self, state: Any) -> None:
        # The same for UPDATE/DELETE statements run through a session (no ORM objects, so no flush event).
        if (state.is_update or state.is_delete) and getattr(state.statement, "table", None) in _AUTH_TABLES:
            state.session.info["medkit_auth_written"] = True
            self.tokens.clear()

    def _auth_committed(self, session: Any) -> None:
        if session.info.pop("medkit_auth_written", False):
            self.tokens.clear()

    def cached_principal(self, token: str) -> tuple[str, Principal | None]:
        """``(sha256 of the token, its principal if cached)``: no database access (safe on the event loop)."""
        h = sha256_hex(token)
        return h, self.tokens.get(h)

    def principal_for_token(self, token_hash: str) -> Principal | None:
        """Look a token up in the database (blocking) and cache a valid answer; None for any invalid token."""
        gen = self.tokens.generation
        with self.engine.connect() as conn:  # a plain connection: columns only, no ORM session
            found = token_lookup(conn, token_hash)
        if found is None:
            return None
        self.tokens.put(token_hash, found[0], found[1], generation=gen)
        return found[0]

    # -- predictions -----------------------------------------------------------------------
    def _registry_touched(self, session: Any, _ctx: Any) -> None:
        if any(isinstance(o, ModelVersion | RegisteredModel) for o in (*session.new, *session.dirty, *session.deleted)):
            self._registry_gen += 1

    def resolve(self, pillar: str, name: str, version: int | None) -> tuple[dict[str, Any], str]:
        """The version a request for ``name`` (and ``version``) gets: its description and stored bundle folder."""
        key, now = (pillar, name, version), time.monotonic()
        hit = self._resolved.get(key)
        if hit is not None and hit[0] == self._registry_gen and now - hit[1] < RESOLVE_TTL_S:
            return hit[2], hit[3]
        gen = self._registry_gen
        with self.sf() as db:
            model, mv = registry.get_version(db, name, version, pillar=pillar)
            ref, bundle_dir = registry.version_dict(model, mv), mv.bundle_dir
        self.predictors.expect(bundle_dir, ref["bundle_sha256"])
        self._resolved[key] = (gen, now, ref, bundle_dir)
        return ref, bundle_dir

    def _predict(self, pillar: str, bundle_dir: str, inputs: Any, explain: bool,
                 declared: list[str] | None = None, *, batch: bool = False) -> dict[str, Any]:
        if declared:
            check_rows(inputs, declared)
        predictor = self.predictors.get(pillar, bundle_dir)
        try:
            if batch and isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
                out = self.batcher.predict(bundle_dir, predictor, inputs, explain)  # see batching.py
            else:
                out = predictor.predict(inputs, explain=explain)
        except MedkitError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            # The model rejected the input; say which kind of problem without echoing values (may be PHI).
            raise DataError(f"the model could not use this input ({type(exc).__name__})", where="request body",
                            fix="check the input against the model's inputs (GET /api/v1/models/{name})") from None
        if not isinstance(out, dict):
            raise DataError("the model returned an unexpected output", where="predictor", fix="re-export the bundle")
        return out

    def predict(self, principal: Principal, pillar: str, name: str, version: int | None, inputs: Any, *,
                input_sha256: str, explain: bool = False, detail: str = "") -> Served:
        """Run the model and write the audit record; the result is returned only if the audit record was stored."""
        ref, bundle_dir = self.resolve(pillar, name, version)
        try:
            result = self._predict(pillar, bundle_dir, inputs, explain, declared_columns(pillar, ref),
                                   batch=batchable(pillar, ref))
        except MedkitError as exc:
            self.auditor.write(_actor(principal), f"predict.{pillar}", outcome="rejected", model_name=name,
                               model_version=ref["version"], input_sha256=input_sha256, detail=type(exc).__name__)
            raise
        # Group commit (see auditq): returns once the record is stored, raises (503) if it could not be.
        self.auditor.write(_actor(principal), f"predict.{pillar}", model_name=name, model_version=ref["version"],
                           input_sha256=input_sha256, detail=detail)
        return Served({k: ref[k] for k in ("name", "version", "stage", "bundle_sha256")}, result, input_sha256)

    # -- jobs ------------------------------------------------------------------------------
    def submit_job(self, principal: Principal, kind: str, pillar: str, name: str, version: int | None,
                   items: list[Any], *, input_sha256: str, explain: bool = False) -> dict[str, Any]:
        ref, bundle_dir = self.resolve(pillar, name, version)
        declared = declared_columns(pillar, ref)
        if declared:
            check_rows(items, declared)  # fail now (422) rather than inside the job
        self.predictors.get(pillar, bundle_dir)  # fail now (503) rather than inside the job
        job_id = uuid.uuid4().hex
        with self.sf.begin() as db:
            audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
            db.add(Job(id=job_id, kind=kind, status="queued", progress=0.0, owner=principal.username,
                       model_name=name, model_version=ref["version"], error=""))
            audit.record(db, _actor(principal), f"job.{kind}", model_name=name, model_version=ref["version"],
                         input_sha256=input_sha256, detail=f"items={len(items)} job={job_id}")
        self.executor.submit(self._run_job, job_id, pillar, bundle_dir, items, explain)
        return self.job_status(principal, job_id)

    def _set_job(self, job_id: str, **values: Any) -> None:
        with self.sf.begin() as db:
            job = db.get(Job, job_id)
            if job is not None:
                for k, v in values.items():
                    setattr(job, k, v)

    def _run_job(self, job_id: str, pillar: str, bundle_dir: str, items: list[Any], explain: bool) -> None:
        try:
            self._set_job(job_id, status="running")
            parts = []
            for start in range(0, len(items), JOB_CHUNK):
                if self._closed:
                    raise RuntimeError("server shutting down")
                parts.append(self._predict(pillar, bundle_dir, items[start:start + JOB_CHUNK], explain))
                self._set_job(job_id, progress=min(1.0, (start + JOB_CHUNK) / len(items)))
            self._set_job(job_id, status="done", progress=1.0, result=merge_results(parts), finished_at=utcnow())
        except Exception as exc:  # noqa: BLE001 - a job records its failure instead of dying silently
            msg = str(exc) if isinstance(exc, MedkitError) else type(exc).__name__
            log.warning("job %s failed: %s", job_id, type(exc).__name__)
            try:
                self._set_job(job_id, status="failed", error=msg[:500], finished_at=utcnow())
            except Exception:  # noqa: BLE001 - database gone; the stale-job sweep marks it at next start
                pass

    def _job(self, principal: Principal, job_id: str) -> Job:
        with self.sf() as db:
            job = db.get(Job, job_id)
            # Other users' jobs look like missing ones, so job ids cannot be probed.
            if job is None or (job.owner != principal.username and principal.role != "admin"):
                raise NotFound(f"no job {job_id!r}", where="job id", fix="use the id returned when the job started")
            return job

    def job_status(self, principal: Principal, job_id: str) -> dict[str, Any]:
        job = self._job(principal, job_id)
        return {"id": job.id, "kind": job.kind, "status": job.status, "progress": round(job.progress, 4),
                "model": {"name": job.model_name, "version": job.model_version}, "error": job.error or None,
                "status_url": f"/api/v1/jobs/{job.id}", "result_url": f"/api/v1/jobs/{job.id}/result"}

    def job_result(self, principal: Principal, job_id: str) -> tuple[dict[str, Any], Any]:
        job = self._job(principal, job_id)
        return self.job_status(principal, job_id), job.result

    def upload_dir(self) -> Path:
        return self.settings.home / "uploads"

    def wait_jobs(self, timeout: float = 30.0) -> None:
        """Block until queued jobs finish (tests and shutdown)."""
        done = threading.Event()
        self.executor.submit(done.set)
        done.wait(timeout)
