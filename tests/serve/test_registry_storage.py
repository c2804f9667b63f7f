"""Registry, migrations and the audit log against SQLite and a real PostgreSQL (each test runs on both)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from medkit.core.errors import ConfigError, ModelError
from medkit.serve import audit, registry
from medkit.serve.audit import Actor
from medkit.serve.db import AuditEvent, ModelVersion, RegisteredModel
from medkit.serve.settings import ServeSettings
from medkit.serve.store import Store

ADMIN = Actor("tester", "admin")


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Store:
    s = Store.open(ServeSettings(database_url=db_url, home=tmp_path / "home"))
    yield s
    s.close()


def test_migrations_match_the_orm_schema(store: Store) -> None:
    # The hand-written migration must create exactly what the ORM models declare (alembic's own comparison).
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from medkit.serve.db import Base
    from medkit.serve.migrate import current_revision, upgrade

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(store.engine) == "0002"
    upgrade(store.engine)  # idempotent
    assert current_revision(store.engine) == "0002"


def test_upgrade_from_0001_keeps_users_tokens_and_the_audit_log(db_url: str) -> None:
    """A database created by the first release (users with tokens referencing them) upgrades in place."""
    from medkit.serve.db import create_engine
    from medkit.serve.migrate import current_revision, upgrade

    engine = create_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, password_hash, role, active, created_at) "
                          "VALUES ('old', 'h', 'admin', true, '2026-01-01')"))
        uid = conn.execute(text("SELECT id FROM users WHERE username = 'old'")).scalar()
        conn.execute(text("INSERT INTO api_tokens (user_id, token_hash, name, created_at, expires_at, revoked) "
                          "VALUES (:u, 'x', 'n', '2026-01-01', '2027-01-01', false)"), {"u": uid})
    upgrade(engine)
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username, must_change_password FROM users")).all() == [("old", False)]
        assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 1
    engine.dispose()


def test_register_versions_stages_and_idempotence(store: Store, clinical_bundle: Path, tmp_path: Path) -> None:
    v1 = registry.register(store.sf, store.home, clinical_bundle, "wdbc-risk", actor=ADMIN)
    again = registry.register(store.sf, store.home, clinical_bundle, "wdbc-risk", actor=ADMIN)
    assert (v1.version, again.version, again.id) == (1, 1, v1.id)  # same content: same version
    changed = tmp_path / "changed"
    shutil.copytree(clinical_bundle, changed)
    (changed / "model_card.md").write_text("# new card\n")
    v2 = registry.register(store.sf, store.home, changed, "wdbc-risk", actor=ADMIN)
    assert v2.version == 2 and v2.bundle_sha256 != v1.bundle_sha256
    assert Path(v2.bundle_dir).is_dir() and Path(v2.bundle_dir).parent == store.home / "models" / "wdbc-risk"
    with store.sf() as db:
        _, cur = registry.get_version(db, "wdbc-risk")
        assert cur.version == 2  # no production yet: newest non-archived
    registry.set_stage(store.sf, "wdbc-risk", 1, "production", actor=ADMIN)
    registry.set_stage(store.sf, "wdbc-risk", 2, "production", actor=ADMIN)
    with store.sf() as db:
        stages = {v.version: v.stage for v in db.execute(select(ModelVersion)).scalars()}
        assert stages == {1: "archived", 2: "production"}
        assert registry.get_version(db, "wdbc-risk")[1].version == 2
        card = registry.get_version(db, "wdbc-risk", 2)[1].card_md
        assert card.startswith("# new card")
        actions = [e.action for e in db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
        assert actions == ["model.register", "model.register", "model.stage", "model.stage"]
        assert audit.verify_chain(db) == (True, None)


def test_register_reads_each_artefact_once_and_refuses_a_changed_one(store: Store, clinical_bundle: Path,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from medkit.core import bundle as core_bundle

    b = Path(shutil.copytree(clinical_bundle, tmp_path / "b"))
    monkeypatch.setattr(core_bundle, "_RACY_NS", 0)  # the copy was just written (see tests/foundation)
    time.sleep(0.05)  # past the file-time tick of the copy
    digests: list[Path] = []
    hashed: list[str] = []
    real_digest, real_hash = registry.bundle_digest, core_bundle.sha256_file

    def counting_digest(path: Path) -> core_bundle.BundleDigest:
        digests.append(path)
        return real_digest(path)

    def counting_hash(path: Path, *a: Any, **k: Any) -> str:
        hashed.append(Path(path).name)
        return real_hash(path, *a, **k)

    monkeypatch.setattr(registry, "bundle_digest", counting_digest)
    monkeypatch.setattr(core_bundle, "sha256_file", counting_hash)
    mv = registry.register(store.sf, store.home, b, "wdbc-risk", actor=ADMIN)
    assert len(digests) == 1 and hashed == []  # the bundle.json check reused the registry digest's read
    assert mv.bundle_sha256 == real_digest(b).sha256
    model_file = b / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="model.joblib changed after the bundle was written"):
        registry.register(store.sf, store.home, b, "wdbc-risk", actor=ADMIN)
    assert len(digests) == 2 and hashed == []  # caught from the digest of that one read of the changed file


def test_lookup_errors(store: Store, clinical_bundle: Path, tmp_path: Path) -> None:
    registry.register(store.sf, store.home, clinical_bundle, "wdbc-risk", actor=ADMIN)
    with store.sf() as db:
        with pytest.raises(registry.NotFound, match="no model named 'nope'"):
            registry.get_version(db, "nope")
        with pytest.raises(registry.NotFound, match="has no version 7"):
            registry.get_version(db, "wdbc-risk", 7)
        with pytest.raises(registry.NotFound, match="no drug model"):
            registry.get_version(db, "wdbc-risk", pillar="drug")
    with pytest.raises(ConfigError, match="invalid model name"):
        registry.register(store.sf, store.home, clinical_bundle, "../etc", actor=ADMIN)
    with pytest.raises(ModelError, match="no model bundle"):
        registry.register(store.sf, store.home, tmp_path, "x", actor=ADMIN)


def test_run_directory_with_one_bundle_is_found(store: Store, clinical_bundle: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20260101-000000-wdbc"
    shutil.copytree(clinical_bundle, run / "bundle")
    assert registry.find_bundle(run) == run / "bundle"
    shutil.copytree(clinical_bundle, run / "bundle2")
    with pytest.raises(ModelError, match="2 model bundles"):
        registry.find_bundle(run)


def test_audit_log_is_append_only(store: Store) -> None:
    with store.sf.begin() as db:
        audit.record(db, ADMIN, "login.web")
        audit.record(db, ADMIN, "predict.clinical", model_name="m", model_version=1, input_sha256="a" * 64)
    for stmt in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(stmt))
    with store.sf() as db:
        assert [e.actor for e in db.execute(select(AuditEvent)).scalars()] == ["tester", "tester"]
        assert audit.verify_chain(db) == (True, None)


def test_hash_chain_detects_tampering(store: Store) -> None:
    with store.sf.begin() as db:
        for i in range(3):
            audit.record(db, ADMIN, "predict.clinical", input_sha256=f"{i:064d}")
    # An attacker with DDL rights drops the guard and edits a row: the chain exposes it.
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_no_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_append_only ON audit_events"))
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 2"))
    with store.sf() as db:
        assert audit.verify_chain(db) == (False, 2)


def test_failed_registration_leaves_nothing_behind(store: Store, clinical_bundle: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise OperationalError("INSERT INTO audit_events", {}, Exception("database went away"))

    monkeypatch.setattr(registry.audit, "record", broken)
    with pytest.raises(OperationalError):
        registry.register(store.sf, store.home, clinical_bundle, "wdbc-risk", actor=ADMIN)
    with store.sf() as db:
        assert db.execute(select(RegisteredModel)).first() is None
        assert db.execute(select(ModelVersion)).first() is None
    assert list((store.home / "models" / "wdbc-risk").iterdir()) == []


def test_register_tree_registers_every_bundle_to_production(store: Store, clinical_bundle: Path,
                                                            treatment_bundle: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo-output"
    shutil.copytree(clinical_bundle, demo / "clinical" / "run" / "bundle")
    shutil.copytree(treatment_bundle, demo / "treatment" / "run" / "bundle")
    out = registry.register_tree(store.sf, store.home, demo, actor=ADMIN)
    assert sorted(v.stage for v in out) == ["production", "production"]
    again = registry.register_tree(store.sf, store.home, demo, actor=ADMIN)
    assert sorted(v.id for v in again) == sorted(v.id for v in out)
    with store.sf() as db:
        names = sorted(m["name"] for m in registry.list_models(db))
    assert names == ["clinical-wdbc-risk", "treatment-actg175-cd4"]


def test_default_name_uses_the_run_directory_for_generic_bundle_names(tmp_path: Path, imaging_bundle: Path) -> None:
    import json

    bundle = tmp_path / "20261125-091416-br35h-cnn" / "bundle"
    shutil.copytree(imaging_bundle, bundle)
    info = json.loads((bundle / "bundle.json").read_text())
    info["name"] = "bundle"
    (bundle / "bundle.json").write_text(json.dumps(info))
    assert registry.default_name(bundle) == "imaging-br35h-cnn"
    assert registry.default_name(imaging_bundle) == "imaging-br35h-tumour"


def test_concurrent_appends_keep_one_chain(store: Store) -> None:
    # Predictions (audit only) and sign-ins (a write, then audit) from many threads at once: the chain must stay
    # linear (no two records linking to the same predecessor) and nothing may deadlock.
    import threading

    from medkit.serve.security import create_user

    with store.sf.begin() as db:
        user = create_user(db, "u", "a-long-password", "clinician")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(15):
                with store.sf.begin() as db:
                    if i % 3 == 0:
                        audit.lock_chain(db)
                        from medkit.serve.security import issue_token

                        issue_token(db, db.get(type(user), user.id), days=1)
                    audit.record(db, ADMIN, "predict.clinical", input_sha256=f"{k:032d}{i:032d}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    with store.sf() as db:
        events = list(db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
        assert len(events) == 90
        assert len({e.prev_hash for e in events}) == 90  # every record has its own predecessor
        assert audit.verify_chain(db) == (True, None)


_APPENDER = """
import sys
from medkit.serve import audit
from medkit.serve.auditq import AuditWriter
from medkit.serve.settings import ServeSettings
from medkit.serve.store import Store

store = Store.open(ServeSettings(database_url=sys.argv[1], home=sys.argv[2]))
writer = AuditWriter(lambda: store.sf)
for i in range(int(sys.argv[4])):
    if i % 2:  # one record per transaction, as the CLI and the web UI write them
        with store.sf.begin() as db:
            audit.record(db, audit.Actor("p" + sys.argv[3], "admin"), "model.stage", detail=str(i))
    else:  # a prediction's group commit
        writer.write(audit.Actor("p" + sys.argv[3], "clinician"), "predict.clinical", input_sha256="%064d" % i)
store.close()
"""


def test_appends_from_several_processes_keep_one_chain(db_url: str, tmp_path: Path) -> None:
    # Several server workers, or a `medkit models` command next to a running server: the chain head must be read
    # under a lock that other processes respect (SQLite: its write lock; PostgreSQL: an advisory lock).
    import subprocess
    import sys

    Store.open(ServeSettings(database_url=db_url, home=tmp_path / "home")).close()  # migrate once
    n, procs = 40, []
    for k in range(3):
        procs.append(subprocess.Popen([sys.executable, "-c", _APPENDER, db_url, str(tmp_path / "home"), str(k),
                                       str(n)], stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    store = Store.open(ServeSettings(database_url=db_url, home=tmp_path / "home"))
    try:
        with store.sf() as db:
            events = list(db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
            assert len(events) == 3 * n
            assert len({e.prev_hash for e in events}) == 3 * n  # no two records share a predecessor
            assert audit.verify_chain(db) == (True, None)
    finally:
        store.close()


def test_register_refuses_a_bundle_whose_artefact_changed(store: Store, tmp_path: Path,
                                                          clinical_bundle: Path) -> None:
    """bundle.json records each artefact's sha256 when written; a damaged copy is never registered."""
    bad = Path(shutil.copytree(clinical_bundle, tmp_path / "damaged"))
    with open(bad / "model.joblib", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="model.joblib changed after the bundle was written"):
        registry.register(store.sf, store.home, bad, "damaged", actor=ADMIN)
    with store.sf() as db:
        assert registry.list_models(db) == []
