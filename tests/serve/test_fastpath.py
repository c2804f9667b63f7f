"""The per-request fast paths behind the load-test target: the clinical predictor's numpy path (same numbers as the
DataFrame path), the short-lived API-token cache (revocation still honoured) and orjson prediction responses."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, select, update

from medkit.core.errors import SchemaError
from medkit.serve.db import ApiToken, utcnow
from medkit.serve.security import Principal, sha256_hex

from .conftest import Env, start_env


# -- clinical numpy fast path --------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["logistic", "gbm"])
def wdbc_predictors(request: pytest.FixtureRequest) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The clinical pillar's own predictor for a WDBC model (fast path on) and a twin with the fast path off."""
    import medkit.clinical.tabular as tabular
    from medkit.clinical.bundle import ClinicalBundle
    from medkit.clinical.estimators import make_gbm as tabular_gbm
    from medkit.clinical.serving import ClinicalPredictor
    from medkit.clinical.tabular import TabularRiskModel
    from medkit.core.bundle import BundleInfo
    from medkit.data import load_dataset

    ds = load_dataset("wdbc")
    with pytest.MonkeyPatch.context() as mp:  # a smaller boosted model: same code path, seconds instead of a minute
        mp.setattr(tabular, "make_gbm", lambda seed=0: tabular_gbm(seed=seed, max_iter=40))
        model = TabularRiskModel(kind=request.param).fit(ds.X, ds.y.to_numpy())
    bundle = ClinicalBundle(BundleInfo("clinical", "binary", f"{request.param}-wdbc"), model, "binary",
                            list(map(str, ds.X.columns)))
    fast, slow = ClinicalPredictor(bundle), ClinicalPredictor(bundle)
    slow._fast = None
    rows = [{c: float(v) for c, v in r.items()} for _, r in ds.X.iterrows()]
    return fast, slow, rows


def test_fast_path_gives_the_dataframe_paths_numbers(wdbc_predictors: tuple[Any, Any, list[dict[str, Any]]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, rows = wdbc_predictors
    assert fast._fast is not None
    feats = list(rows[0])
    holes = [dict(r) for r in rows[:40]]
    for i, r in enumerate(holes):  # missing values (null and NaN) go through the model's own imputation
        r[feats[i % len(feats)]] = None if i % 2 else math.nan
    ints = [{k: int(round(v)) for k, v in r.items()} for r in rows[:20]]
    with_ids = [{"id": f"p{i}" if i % 2 else i, **r} for i, r in enumerate(rows[:30])]
    expected = {"all": slow.predict(rows), "holes": slow.predict(holes), "ints": slow.predict(ints),
                "ids": slow.predict(with_ids), "one": slow.predict(rows[7:8])}
    import medkit.clinical.serving as serving

    class NoFrames:  # the fast path must not build a DataFrame at all
        def __init__(self, *a: Any, **k: Any) -> None:
            raise AssertionError("DataFrame built on the fast path")

    monkeypatch.setattr(serving.pd, "DataFrame", NoFrames)
    got = {"all": fast.predict(rows), "holes": fast.predict(holes), "ints": fast.predict(ints),
           "ids": fast.predict(with_ids), "one": fast.predict(rows[7:8])}
    assert got == expected  # exact equality: same floats, ids, keys and order
    assert [p["id"] for p in got["ids"]["predictions"][:3]] == ["0", "p1", "2"]
    assert got["one"]["predictions"][0]["id"] == "0"
    # An independent check of the numbers: the estimator itself on the same rows as a DataFrame.
    monkeypatch.undo()
    import pandas as pd

    ref = fast.bundle.model.predict_proba(pd.DataFrame(rows))[:, 1]
    np.testing.assert_array_equal([p["risk"] for p in got["all"]["predictions"]], ref)


def _outcome(predictor: Any, rows: list[dict[str, Any]]) -> Any:
    try:
        return predictor.predict(rows)
    except Exception as exc:  # noqa: BLE001 - the kind of refusal is what is compared
        return type(exc)


def test_anything_unusual_takes_the_slow_path_with_its_errors(
        wdbc_predictors: tuple[Any, Any, list[dict[str, Any]]]) -> None:
    fast, slow, rows = wdbc_predictors
    feats = list(rows[0])
    as_text = [{**rows[0], feats[0]: str(rows[0][feats[0]])}]  # "17.99": pandas converts it; so must we
    flag = [{**rows[1], feats[1]: True}]
    mixed_ids = [{"id": "a", **rows[0]}, rows[1]]
    for odd in (as_text, flag, mixed_ids):
        assert fast._fast_predictions(odd) is None
        assert fast.predict(odd) == slow.predict(odd)
    explained = fast.predict(rows[:1], explain=True)  # explanations: slow path
    assert explained == slow.predict(rows[:1], explain=True) and "top_features" in explained["predictions"][0]
    infinite = [{**rows[0], feats[2]: math.inf}]  # logistic: scikit-learn refuses it (the service's 422)
    assert fast._fast_predictions(infinite) is None
    assert _outcome(fast, infinite) == _outcome(slow, infinite)
    huge = [{**rows[0], feats[4]: 10**400}]  # valid JSON, beyond the float range
    assert fast._fast_predictions(huge) is None
    assert _outcome(fast, huge) is _outcome(slow, huge) is OverflowError
    left_out = [{k: v for k, v in rows[0].items() if k != feats[3]}]
    with pytest.raises(SchemaError):
        fast.predict(left_out)


def test_fast_path_only_for_models_it_reproduces() -> None:
    from medkit.clinical.bundle import ClinicalBundle
    from medkit.clinical.serving import _numpy_twin
    from medkit.core.bundle import BundleInfo

    info = BundleInfo("clinical", "binary", "x")
    assert _numpy_twin(ClinicalBundle(info, object(), "binary", ["a"])) is None  # not a TabularRiskModel
    assert _numpy_twin(ClinicalBundle(info, object(), "survival", ["a"])) is None
    assert _numpy_twin(ClinicalBundle(info, object(), "icu", ["a"])) is None


# -- API-token cache --------------------------------------------------------------------------------------
@pytest.fixture
def cached_env(tmp_path: Path, clinical_bundle: Path) -> Any:
    yield from start_env(tmp_path / "home", {"wdbc-risk": clinical_bundle}, token_cache_s=60.0)


def _token_id(env: Env, role: str) -> int:
    with env.svc.sf() as db:
        return int(db.execute(select(ApiToken.id).where(ApiToken.token_hash == sha256_hex(env.tokens[role])))
                   .scalar_one())


def test_revocation_through_the_server_applies_to_the_next_request(cached_env: Env) -> None:
    env, url = cached_env, "/api/v1/models"
    assert env.client.get(url, headers=env.h("clinician")).status_code == 200  # now cached for 60 s
    assert env.svc.tokens.get(sha256_hex(env.tokens["clinician"])) is not None
    r = env.client.delete(f"/api/v1/auth/tokens/{_token_id(env, 'clinician')}", headers=env.h("clinician"))
    assert r.status_code == 200
    assert env.client.get(url, headers=env.h("clinician")).status_code == 401
    # An administrator's password reset ends the user's tokens at once too.
    assert env.client.get(url, headers=env.h("researcher")).status_code == 200
    r = env.client.post("/api/v1/users/researcher/password", headers=env.h("admin"))
    assert r.status_code == 200
    assert env.client.get(url, headers=env.h("researcher")).status_code == 401


def test_a_change_made_by_another_process_applies_within_the_window(cached_env: Env) -> None:
    env, url = cached_env, "/api/v1/models"
    now = [1000.0]
    env.svc.tokens.clock = lambda: now[0]
    assert env.client.get(url, headers=env.h("clinician")).status_code == 200
    other = create_engine(env.svc.settings.db_url)  # e.g. `medkit serve reset-password` or another worker
    with other.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.token_hash == sha256_hex(env.tokens["clinician"]))
                     .values(revoked=True))
    other.dispose()
    now[0] += 59.0
    assert env.client.get(url, headers=env.h("clinician")).status_code == 200  # inside the documented window
    now[0] += 1.0
    assert env.client.get(url, headers=env.h("clinician")).status_code == 401


def test_cache_off_reads_every_time_and_bad_tokens_are_never_cached(tmp_path: Path, clinical_bundle: Path) -> None:
    for env in start_env(tmp_path / "home", {"wdbc-risk": clinical_bundle}, token_cache_s=0.0):
        assert env.client.get("/api/v1/models", headers=env.h("clinician")).status_code == 200
        other = create_engine(env.svc.settings.db_url)
        with other.begin() as conn:
            conn.execute(update(ApiToken).values(revoked=True))
        other.dispose()
        assert env.client.get("/api/v1/models", headers=env.h("clinician")).status_code == 401
        assert env.client.get("/api/v1/models", headers={"Authorization": "Bearer mk_forged"}).status_code == 401
        assert len(env.svc.tokens._entries) == 0


def test_token_cache_respects_expiry_lru_bound_and_races() -> None:
    from medkit.serve.authcache import TokenCache

    p = Principal(1, "u", "clinician", "token")
    cache = TokenCache(ttl_s=60.0, max_keys=2)
    cache.put("old", p, utcnow() - _dt.timedelta(seconds=1), generation=0)
    assert cache.get("old") is None  # never served past the token's own expiry
    later = utcnow() + _dt.timedelta(days=1)
    for k in ("a", "b", "c"):
        cache.put(k, p, later, generation=cache.generation)
    assert cache.get("a") is None and cache.get("c") == p  # LRU-bounded
    gen = cache.generation
    cache.clear()  # e.g. a revocation committed while a lookup was reading the old row
    cache.put("a", p, later, generation=gen)
    assert cache.get("a") is None


# -- responses ------------------------------------------------------------------------------------------
def test_prediction_response_is_plain_json_with_the_model_header(env: Env) -> None:
    from medkit.data import load_dataset

    row = {c: float(v) for c, v in load_dataset("wdbc").X.iloc[0].items()}
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": [row]}, headers=env.h("clinician"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"model", "result", "input_sha256"}
    assert r.headers["x-medkit-model"] == f"wdbc-risk:{body['model']['version']}"
    assert set(body["model"]) == {"name", "version", "stage", "bundle_sha256"}
    assert r.headers["cache-control"] == "no-store"  # security headers still added by the middleware


def test_a_number_beyond_the_float_range_is_a_422_not_a_500(env: Env) -> None:
    from medkit.data import load_dataset

    row = {c: float(v) for c, v in load_dataset("wdbc").X.iloc[0].items()}
    body = '{"rows": [' + __import__("json").dumps(row)[:-1] + ', "mean radius": 1' + "0" * 400 + "}]}"
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict", content=body,
                        headers={**env.h("clinician"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "OverflowError" in r.json()["error"]["what"]


def test_nan_in_a_result_is_null_not_invalid_json() -> None:
    from medkit.serve.api import _served
    from medkit.serve.service import Served

    resp = _served(Served({"name": "m", "version": 1, "stage": "production", "bundle_sha256": "0" * 64},
                          {"predictions": [{"risk": float("nan"), "n": np.int64(3), "v": np.float32(0.5)}]}, "f" * 64))
    import json

    assert json.loads(bytes(resp.body))["result"]["predictions"][0] == {"risk": None, "n": 3, "v": 0.5}

