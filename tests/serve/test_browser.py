"""Browser tests: headless Debian chromium (Playwright) against a loopback server with real models.

Every page gets a screenshot under ``test-artifacts/serve/``. Requests to anything but 127.0.0.1 are aborted.
"""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .conftest import PASSWORDS, make_settings
from .fixtures import bundles as fx

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "serve"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-default-apps"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clinical_bundle: Path, imaging_bundle: Path,
           treatment_bundle: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed at /usr/bin/chromium (run scripts/system-deps.sh)")
    pytest.importorskip("playwright.sync_api")
    import uvicorn

    from medkit.serve import create_app
    from medkit.serve.audit import Actor
    from medkit.serve.registry import register, set_stage
    from medkit.serve.security import create_user

    bundles = {"wdbc-risk": clinical_bundle, "br35h-tumour": imaging_bundle, "actg-cd4": treatment_bundle}
    try:
        bundles["esol-solubility"] = request.getfixturevalue("drug_bundle")
    except pytest.skip.Exception:
        pass
    app = create_app(make_settings(tmp_path_factory.mktemp("home")), loaders=fx.LOADERS)
    svc = app.state.service
    with svc.sf.begin() as db:
        for role, pw in PASSWORDS.items():
            create_user(db, role, pw, role)
    for name, path in bundles.items():
        mv = register(svc.sf, svc.settings.home, path, name, actor=Actor("setup", "admin"))
        set_stage(svc.sf, name, mv.version, "production", actor=Actor("setup", "admin"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def _page(browser: object, role: str | None, server: str) -> object:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]

    def only_loopback(route: object) -> None:
        host = urlparse(route.request.url).hostname  # type: ignore[attr-defined]
        if host in ("127.0.0.1", None) or route.request.url.startswith("data:"):  # type: ignore[attr-defined]
            route.continue_()  # type: ignore[attr-defined]
        else:
            route.abort()  # type: ignore[attr-defined]

    ctx.route("**/*", only_loopback)
    page = ctx.new_page()
    if role:
        page.goto(f"{server}/login")
        page.get_by_label("User name").fill(role)
        page.get_by_label("Password").fill(PASSWORDS[role])
        submit(page, "Sign in")
        page.wait_for_url(f"{server}/")
    return page


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def submit(page: object, name: str, exact: bool = False) -> None:
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.get_by_role("button", name=name, exact=exact).click()  # type: ignore[attr-defined]


def _unlabelled_inputs(page: object) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !(e.id && document.querySelector(`label[for="${e.id}"]`)))
        .map(e => e.name)""")  # type: ignore[attr-defined]


def test_sign_in_error_path_and_models(browser: object, server: str) -> None:
    page = _page(browser, None, server)
    page.goto(f"{server}/")  # not signed in: sent to the sign-in page
    assert page.url.endswith("/login")
    shot(page, "01-login")
    page.get_by_label("User name").fill("clinician")
    page.get_by_label("Password").fill("wrong password")
    submit(page, "Sign in")
    assert "Wrong user name or password" in page.get_by_role("alert").inner_text()
    shot(page, "02-login-error")
    page = _page(browser, "clinician", server)
    assert page.get_by_role("heading", name="wdbc-risk").is_visible()
    page.keyboard.press("Tab")  # keyboard users reach "skip to content" first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    shot(page, "03-models")
    page.get_by_role("link", name="wdbc-risk").click()
    assert "Held-out AUROC" in page.locator("pre.card-md").inner_text()
    shot(page, "04-model-card")


def test_clinical_form_csv_and_bad_value(browser: object, server: str) -> None:
    from medkit.data import load_dataset

    page = _page(browser, "clinician", server)
    page.goto(f"{server}/apply/wdbc-risk")
    assert _unlabelled_inputs(page) == []
    X = load_dataset("wdbc").X
    for col, val in X.iloc[0].items():  # patient 0 of WDBC (malignant)
        page.get_by_label(col, exact=True).fill(str(val))
    submit(page, "Estimate risk", exact=True)
    result = page.locator("#result").inner_text()
    assert "wdbc-risk" in result and "malignant" in result and "top features" in result
    shot(page, "05-clinical-result")
    page.get_by_label("mean radius", exact=True).fill("abc")
    submit(page, "Estimate risk", exact=True)
    alert = page.get_by_role("alert").inner_text()
    assert "'mean radius' is not a number" in alert and "How to fix" in alert
    shot(page, "06-clinical-error")
    csv = X.iloc[:5].to_csv(index=False).encode()
    page.get_by_label("CSV file with a header row of feature names").set_input_files(
        files=[{"name": "patients.csv", "mimeType": "text/csv", "buffer": csv}])
    submit(page, "Estimate risk for the file")
    shot(page, "07-clinical-csv")
    assert page.locator("#result table tbody tr").count() == 5


def test_imaging_upload_shows_overlay(browser: object, server: str) -> None:
    from PIL import Image

    path, _ = fx.br35h_files(100)[150]
    buf = io.BytesIO()
    Image.open(path).convert("L").save(buf, format="PNG")
    page = _page(browser, "clinician", server)
    page.goto(f"{server}/apply/br35h-tumour")
    assert _unlabelled_inputs(page) == []
    page.get_by_label("PNG, DICOM or NIfTI file (JPEG and TIFF also accepted)").set_input_files(
        files=[{"name": "../../slice.png", "mimeType": "image/png", "buffer": buf.getvalue()}])
    submit(page, "Read image")
    overlay = page.get_by_role("img", name="overlay image")
    assert overlay.is_visible()
    assert page.evaluate("document.querySelector('img.overlay').naturalWidth") > 0
    shot(page, "08-imaging-result")


def test_treatment_recommendation(browser: object, server: str) -> None:
    page = _page(browser, "clinician", server)
    page.goto(f"{server}/apply/actg-cd4")
    assert _unlabelled_inputs(page) == []
    submit(page, "Recommend")
    text = page.locator("#result").inner_text()
    assert "recommended" in text and "ci low" in text
    assert page.locator("#result table table tbody tr").count() == 4  # four ACTG 175 arms, nested per patient
    shot(page, "09-treatment-result")


def test_drug_structures_and_screening_job(browser: object, server: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("drug_bundle")  # skips without the shared data
    page = _page(browser, "researcher", server)
    page.goto(f"{server}/apply/esol-solubility")
    assert _unlabelled_inputs(page) == []
    page.get_by_label("One SMILES per line").fill("CCO\nc1ccccc1\nCC(=O)Oc1ccccc1C(=O)O")
    submit(page, "Predict")
    assert page.get_by_role("img", name="Structure of c1ccccc1").is_visible()
    assert page.locator("#result table tbody tr").count() == 3
    shot(page, "10-drug-result")
    page.get_by_label("One SMILES per line").fill("\n".join("C" * (i % 9 + 1) + "O" for i in range(300)))
    page.get_by_label("Run as a screening job (large libraries)").check()
    submit(page, "Predict")
    page.wait_for_url("**/jobs/*")
    page.get_by_role("link", name="Download the full result (JSON)").wait_for(timeout=30_000)
    assert "done" in page.locator("#job-status").inner_text()
    shot(page, "11-drug-job")
    # A researcher may not open clinical models: 403 page.
    resp = page.goto(f"{server}/apply/wdbc-risk")
    assert resp.status == 403 and "may not predict clinical" in page.get_by_role("alert").inner_text()
    shot(page, "12-forbidden")


def test_admin_audit_log_and_stage_change(browser: object, server: str) -> None:
    page = _page(browser, "admin", server)
    page.goto(f"{server}/models/wdbc-risk")
    page.get_by_label("Stage of v1").select_option("staging")
    submit(page, "Set")
    assert "staging" in page.locator("table tbody tr").first.inner_text()
    page.get_by_label("Stage of v1").select_option("production")
    submit(page, "Set")
    page.goto(f"{server}/audit")
    assert "Hash chain intact" in page.get_by_role("status").inner_text()
    body = page.locator("table").inner_text()
    assert "model.stage" in body and "login.web" in body and "predict.clinical" in body
    shot(page, "13-audit")
    submit(page, "Sign out")
    page.wait_for_url("**/login")
    page.goto(f"{server}/audit")
    assert page.url.endswith("/login")


def test_api_tokens_and_password_reset(browser: object, server: str) -> None:
    import httpx

    admin_token = httpx.post(f"{server}/api/v1/auth/token", json={"username": "admin",
                                                                  "password": PASSWORDS["admin"]}).json()["token"]
    r = httpx.post(f"{server}/api/v1/users", json={"username": "nurse", "password": "nurse-password-1",
                                                   "role": "clinician"},
                   headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 201
    page = _page(browser, None, server)
    page.goto(f"{server}/login")
    page.get_by_label("User name").fill("nurse")
    page.get_by_label("Password").fill("nurse-password-1")
    submit(page, "Sign in")
    page.get_by_role("link", name="Account").click()
    assert _unlabelled_inputs(page) == []
    page.get_by_label("Name optional").fill("ward script")
    submit(page, "Create token")
    token = page.get_by_label("Token", exact=True).input_value()
    assert token.startswith("mk_")
    shot(page, "14-account-new-token")
    assert httpx.get(f"{server}/api/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.goto(f"{server}/account")
    assert token not in page.content()  # shown once only
    submit(page, "Revoke token")
    assert "revoked" in page.locator("#tokens tbody tr").first.inner_text()
    assert httpx.get(f"{server}/api/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    admin = _page(browser, "admin", server)
    admin.get_by_role("link", name="Users").click()
    shot(admin, "15-users")
    submit(admin, "Reset the password of nurse")
    temporary = admin.get_by_role("textbox", name="Temporary password").input_value()
    shot(admin, "16-users-reset")
    page.goto(f"{server}/")  # the nurse's session ended with the reset
    assert page.url.endswith("/login")
    page.get_by_label("User name").fill("nurse")
    page.get_by_label("Password").fill(temporary)
    submit(page, "Sign in")
    assert page.url.endswith("/account") and "temporary" in page.get_by_role("alert").inner_text()
    shot(page, "17-must-change-password")
    page.goto(f"{server}/apply/wdbc-risk")  # nothing else until the password is changed
    assert page.url.endswith("/account")
    page.get_by_label("Current password").fill(temporary)
    page.get_by_label("New password (at least 10 characters)").fill("nurse-new-password-2")
    page.get_by_label("New password again").fill("nurse-new-password-2")
    submit(page, "Change password")
    assert page.url == f"{server}/"
    assert page.get_by_role("heading", name="wdbc-risk").is_visible()


def teardown_module() -> None:
    shutil.rmtree(ARTIFACTS / "tmp", ignore_errors=True)
