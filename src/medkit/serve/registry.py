"""Model registry: register bundles as numbered versions, move them between stages, look them up.

A registered version is an immutable copy of the bundle under ``<home>/models/<name>/<version>-<sha>``; the
database row and the copy are created together or not at all.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from medkit.core.bundle import bundle_digest, load_bundle_info, reuse_digests
from medkit.core.errors import ConfigError, ModelError
from medkit.serve import audit
from medkit.serve.db import STAGES, ModelVersion, RegisteredModel
from medkit.serve.errors import NotFound

PILLARS = ("clinical", "drug", "imaging", "treatment")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_CARD_BYTES = 256 * 1024


def find_bundle(path: str | Path) -> Path:
    """The bundle directory for ``path``: the path itself, or the single ``bundle.json`` folder inside a run."""
    p = Path(path)
    if (p / "bundle.json").is_file():
        return p
    if not p.is_dir():
        raise ModelError(f"no such run or bundle directory: {p}", where=str(p),
                         fix="pass a run directory (see `medkit runs list`) or a bundle directory")
    found = sorted({f.parent for depth in ("*/", "*/*/", "*/*/*/") for f in p.glob(depth + "bundle.json")})
    if not found:
        raise ModelError(f"no model bundle (bundle.json) inside {p}", where=str(p),
                         fix="train a model with `medkit <pillar> train` first, or pass the bundle directory")
    if len(found) > 1:
        listed = ", ".join(str(f.relative_to(p)) for f in found[:5])
        raise ModelError(f"{len(found)} model bundles inside {p}: {listed}", where=str(p),
                         fix="pass the bundle directory you want to register")
    return found[0]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"invalid model name {name!r}", where="--name",
                          fix="use up to 128 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def register(sf: sessionmaker, home: Path, source: str | Path, name: str, *, actor: audit.Actor,
             stage: str = "staging") -> ModelVersion:
    """Register the bundle in ``source`` (run or bundle directory) as the next version of model ``name``.

    Registering the same bundle content again returns the existing version (idempotent).
    """
    check_name(name)
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}", where="stage", fix=f"use one of {', '.join(STAGES)}")
    bundle = find_bundle(source)
    whole = bundle_digest(bundle)  # the registry's digest; its per-artefact digests spare a second read below
    with reuse_digests(whole):
        info = load_bundle_info(bundle)
    if info.pillar not in PILLARS:
        raise ModelError(f"bundle pillar {info.pillar!r} cannot be served", where=str(bundle / "bundle.json"),
                         fix=f"bundles must come from one of {', '.join(PILLARS)}")
    digest = whole.sha256
    card_file = bundle / "model_card.md"
    card = card_file.read_text(errors="replace")[:MAX_CARD_BYTES] if card_file.is_file() else ""

    with sf() as db:
        existing = db.execute(select(ModelVersion).join(RegisteredModel)
                              .where(RegisteredModel.name == name, ModelVersion.bundle_sha256 == digest)).scalar()
        if existing is not None:
            return existing

    staging_dir = home / "models" / name / f".incoming-{uuid.uuid4().hex}"
    shutil.copytree(bundle, staging_dir)
    dest: Path | None = None
    try:
        with sf.begin() as db:
            audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
            model = db.execute(select(RegisteredModel).where(RegisteredModel.name == name)).scalar()
            if model is None:
                model = RegisteredModel(name=name, pillar=info.pillar, kind=info.kind)
                db.add(model)
                db.flush()
            elif model.pillar != info.pillar:
                raise ModelError(f"model {name!r} is a {model.pillar} model; this bundle is {info.pillar}",
                                 where=str(bundle), fix="register it under another --name")
            last = db.execute(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)).scalar()
            version = int(last or 0) + 1
            dest = home / "models" / name / f"{version}-{digest[:12]}"
            mv = ModelVersion(model_id=model.id, version=version, stage=stage, bundle_dir=str(dest),
                              bundle_sha256=digest, card_md=card, info=dict(info.__dict__), source=str(bundle),
                              created_by=actor.username)
            db.add(mv)
            db.flush()
            audit.record(db, actor, "model.register", model_name=name, model_version=version,
                         detail=f"pillar={info.pillar} kind={info.kind} stage={stage}")
            staging_dir.rename(dest)
        return mv
    except BaseException:
        # Nothing half-written: the transaction rolled back, so remove the copy wherever it got to.
        shutil.rmtree(staging_dir, ignore_errors=True)
        if dest is not None:
            shutil.rmtree(dest, ignore_errors=True)
        raise


def set_stage(sf: sessionmaker, name: str, version: int, stage: str, *, actor: audit.Actor) -> ModelVersion:
    """Move a version to ``stage``; promoting to production archives the previous production version."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}", where="stage", fix=f"use one of {', '.join(STAGES)}")
    with sf.begin() as db:
        audit.lock_chain(db)  # before any write: one lock order (see audit.lock_chain)
        model, mv = get_version(db, name, version)
        if stage == "production":
            for other in db.execute(select(ModelVersion).where(ModelVersion.model_id == model.id,
                                                               ModelVersion.stage == "production")).scalars():
                if other.id != mv.id:
                    other.stage = "archived"
        old = mv.stage
        mv.stage = stage
        audit.record(db, actor, "model.stage", model_name=name, model_version=version, detail=f"{old}->{stage}")
        return mv


def get_version(db: Session, name: str, version: int | None = None, *,
                pillar: str | None = None) -> tuple[RegisteredModel, ModelVersion]:
    """Model and version; without ``version`` the production one, else the newest non-archived one."""
    model = db.execute(select(RegisteredModel).where(RegisteredModel.name == name)).scalar()
    if model is None or (pillar is not None and model.pillar != pillar):
        kind = f"{pillar} model" if pillar else "model"
        raise NotFound(f"no {kind} named {name!r}", where="model name", fix="list models with GET /api/v1/models")
    q = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if version is not None:
        mv = db.execute(q.where(ModelVersion.version == version)).scalar()
        if mv is None:
            raise NotFound(f"model {name!r} has no version {version}", where="version",
                           fix=f"list versions with GET /api/v1/models/{name}")
        return model, mv
    versions = list(db.execute(q.order_by(ModelVersion.version.desc())).scalars())
    for mv in versions:
        if mv.stage == "production":
            return model, mv
    for mv in versions:
        if mv.stage != "archived":
            return model, mv
    raise NotFound(f"model {name!r} has no active version (all archived)", where="version",
                   fix="promote a version or ask for one explicitly with ?version=N")


def describe(model: RegisteredModel, versions: list[ModelVersion]) -> dict[str, Any]:
    return {
        "name": model.name, "pillar": model.pillar, "kind": model.kind,
        "versions": [version_dict(model, v) for v in sorted(versions, key=lambda v: v.version)],
    }


def version_dict(model: RegisteredModel, v: ModelVersion) -> dict[str, Any]:
    info = v.info or {}
    return {"name": model.name, "version": v.version, "stage": v.stage, "bundle_sha256": v.bundle_sha256,
            "created_at": v.created_at.isoformat(timespec="seconds") + "Z", "created_by": v.created_by,
            "metrics": info.get("metrics", {}), "inputs": info.get("inputs", {}), "outputs": info.get("outputs", {}),
            "has_card": bool(v.card_md)}


def list_models(db: Session) -> list[dict[str, Any]]:
    out = []
    for model in db.execute(select(RegisteredModel).order_by(RegisteredModel.name)).scalars():
        versions = list(db.execute(select(ModelVersion).where(ModelVersion.model_id == model.id)).scalars())
        out.append(describe(model, versions))
    return out


def bundle_dirs(root: str | Path) -> list[Path]:
    """Every bundle directory under ``root`` (sorted), e.g. all models written by ``medkit demo``."""
    return sorted({f.parent for f in Path(root).rglob("bundle.json")})


def default_name(bundle: Path) -> str:
    """A registry name for a bundle: ``<pillar>-<bundle name>``, reduced to allowed characters."""
    info = load_bundle_info(bundle, verify=False)  # metadata only: register() verifies the artefacts
    base = info.name
    if base.lower() in ("", "bundle", "model"):  # a generic folder name: use the run directory's name instead
        base = re.sub(r"^\d{8}-\d{6}-", "", bundle.parent.name) or info.kind
    raw = base if base.startswith(info.pillar) else f"{info.pillar}-{base}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.")[:128]
    return slug or f"{info.pillar}-model"


def register_tree(sf: sessionmaker, home: Path, root: str | Path, *, actor: audit.Actor) -> list[ModelVersion]:
    """Register every bundle under ``root`` (idempotent); a model's first version goes straight to production."""
    out = []
    for bundle in bundle_dirs(root):
        mv = register(sf, home, bundle, default_name(bundle), actor=actor)
        with sf() as db:
            has_prod = db.execute(select(ModelVersion.id).where(ModelVersion.model_id == mv.model_id,
                                                                ModelVersion.stage == "production")).first()
            name = db.execute(select(RegisteredModel.name).where(RegisteredModel.id == mv.model_id)).scalar_one()
        if has_prod is None:
            mv = set_stage(sf, name, mv.version, "production", actor=actor)
        out.append(mv)
    return out
