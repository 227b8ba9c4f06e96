"""The sandbox in a real browser: Debian's Chromium driven by Playwright, against a real server.

The app (as `create_app` wires it) runs on uvicorn on a free loopback port (a thread of this
process, real sockets) with the pinned clock, so fixtures are not date-shifted and the result is
deterministic. The test picks a fixture whose expect.json has a critical card (a seizure case
when there is one; if the repository has none, it builds one with the fixture kit), runs it,
and checks the rendered card against the API's own answer. It takes a screenshot of the
card into the test's temporary directory; ``make screenshot`` sets ``CDS_DOCS_SCREENSHOT`` to
write it to docs/sandbox-critical-card.png (the one the README shows) instead, so a test run
never rewrites a tracked file.

Skipped only when Chromium is missing and CI != "true" (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cds_service import fixture_kit as kit
from cds_service.api.app import create_app
from cds_service.services import ServiceRegistry
from cds_service.settings import Settings
from tests.conftest import NOW, ROOT
from tests.integrator.conftest import seizure_postpartum_spec, write_case

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT_ENV = "CDS_DOCS_SCREENSHOT"  # where `make screenshot` wants the docs image
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("CI") != "true",
        reason="Chromium is not installed (apt-get install chromium); CI requires it",
    ),
]


def critical_fixture(folder: Path) -> kit.Fixture | None:
    """A repository fixture that must produce a critical card; seizure cases first."""
    fixtures, _ = kit.scan_fixtures(folder)
    critical = [f for f in fixtures if f.worst_expected == "critical" and f.as_of == NOW]
    critical.sort(key=lambda f: ("seizure" not in f.id and "eclampsia" not in f.id, f.id))
    return critical[0] if critical else None


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, kit.Fixture]:
    """The fixtures folder the server lists: the critical case, and a quiet patient to edit."""
    from cds_service.knowledge.prefetch_sets import expand_code_set

    settings = Settings()
    folder = tmp_path_factory.mktemp("fixtures")
    registry = ServiceRegistry.from_directory(settings.hooks_dir, expand_code_set)
    write_case(folder, registry, "quiet-30-weeks", gestational_age_days=30 * 7,
               blood_pressure=(112, 70))  # fmt: skip
    found = critical_fixture(settings.fixtures_dir)
    if found is not None:
        shutil.copytree(found.path, folder / found.id)
        return folder, kit.load_fixture(folder / found.id)
    path = write_case(folder, registry, "seizure-postpartum-day-5-critical",
                      expect=("R1:critical",), **seizure_postpartum_spec())  # fmt: skip
    return folder, kit.load_fixture(path)


@pytest.fixture(scope="module")
def server(case: tuple[Path, kit.Fixture], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:  # fmt: skip
    fixtures_dir, _ = case
    database = tmp_path_factory.mktemp("db") / "cds.sqlite3"
    settings = Settings(database_url=f"sqlite:///{database}", fixtures_dir=fixtures_dir)
    app = create_app(settings, clock=lambda: NOW)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("CI=true but /usr/bin/chromium is missing: .ci/run installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 1100}, base_url=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    # No script errors and no CSP violations; HTTP error statuses are asserted by the tests.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def screenshot_path(tmp_path: Path) -> Path:
    """The docs image when ``make screenshot`` asks for it, otherwise a temporary file."""
    wanted = os.environ.get(DOCS_SCREENSHOT_ENV)
    return Path(wanted) if wanted else tmp_path / "sandbox-critical-card.png"


def test_screenshot_goes_to_tmp_unless_the_docs_image_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DOCS_SCREENSHOT_ENV, raising=False)
    assert screenshot_path(tmp_path).parent == tmp_path
    docs = ROOT / "docs" / "sandbox-critical-card.png"
    monkeypatch.setenv(DOCS_SCREENSHOT_ENV, str(docs))
    assert screenshot_path(tmp_path) == docs


def test_critical_fixture_renders_as_a_critical_card(
    page: Any, case: tuple[Path, kit.Fixture], tmp_path: Path
) -> None:
    _, fixture = case
    page.goto("/sandbox")
    page.wait_for_selector("body[data-ready='true']")
    with page.expect_response(f"**/sandbox/fixtures/{fixture.id}"):
        page.select_option("#fixture", fixture.id)
    page.wait_for_function(
        "id => document.getElementById('raw').value.includes(id)",
        arg=fixture.request["context"]["patientId"],
    )
    assert page.input_value("#service") == f"{fixture.service}|{fixture.hook}"
    with page.expect_response(f"**/cds-services/{fixture.service}") as answer:
        page.click("#run")
    response = answer.value
    assert response.status == 200
    cards = response.json()["cards"]
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert critical, f"{fixture.id}: the service returned no critical card"

    page.wait_for_selector(".card")
    rendered = page.locator(".card")
    assert rendered.count() == len(cards)
    first = page.locator(".card[data-indicator='critical']").first
    assert first.locator(".badge").inner_text().strip().lower().endswith("critical")
    assert first.locator(".summary").inner_text() == critical[0]["summary"]
    badge_colour = first.locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor")
    assert badge_colour == "rgb(180, 35, 24)"  # the critical red
    if critical[0].get("source", {}).get("url"):
        link = first.locator(".source a")
        assert link.get_attribute("href") == critical[0]["source"]["url"]
        assert link.inner_text() == critical[0]["source"]["label"]
    if critical[0].get("suggestions"):
        assert first.locator(".suggestion").count() == len(critical[0]["suggestions"])
    reasons = [r["display"] for r in critical[0].get("overrideReasons", [])]
    options = first.locator(".override select option").all_inner_texts()
    assert options[1:] == reasons
    status = page.inner_text("#status")
    assert status.startswith("200 OK") and "most urgent: critical" in status

    if critical[0].get("suggestions"):  # the clinician picks the first suggestion
        choice = first.locator(".suggestion").first
        choice.click()
        assert choice.get_attribute("aria-pressed") == "true"
        assert first.locator("button", has_text="Accept selected").is_enabled()

    screenshot = screenshot_path(tmp_path)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    if critical[0].get("suggestions"):  # accepting shows the feedback the EHR would send
        first.locator("button", has_text="Accept selected").click()
        feedback = json.loads(page.text_content("#feedback") or "")["feedback"]
        assert feedback[0]["card"] == critical[0]["uuid"]
        assert feedback[0]["outcome"] == "accepted"
        assert feedback[0]["acceptedSuggestions"] == [{"id": critical[0]["suggestions"][0]["uuid"]}]


def test_editing_the_form_rewrites_the_request_and_changes_the_cards(page: Any) -> None:
    page.goto("/sandbox#quiet-30-weeks")
    page.wait_for_selector("body[data-ready='true']")
    page.wait_for_function("() => document.getElementById('bp').value === '112/70'")
    with page.expect_response("**/cds-services/prenatal-cramps-convulsions") as answer:
        page.click("#run")
    assert answer.value.json() == {"cards": []}
    assert page.inner_text(".empty").startswith("No cards")

    with page.expect_response("**/sandbox/compose"):
        page.fill("#bp", "168/114")
    page.click("#add-measurement")
    row = page.locator("#measurements .row-item").last
    row.locator("select[data-field='analyte']").select_option("hb")
    row.locator("select[data-field='unit']").select_option("g/dL")
    with page.expect_response("**/sandbox/compose"):
        row.locator("input[data-field='value']").fill("6.5")
    raw = page.input_value("#raw")
    assert '"value": 168' in raw and '"code": "718-7"' in raw and '"value": 6.5' in raw

    with page.expect_response("**/cds-services/prenatal-cramps-convulsions") as answer:
        page.click("#run")
    rules = {(c["indicator"], c["source"]["topic"]["code"]) for c in answer.value.json()["cards"]}
    assert {("critical", "R2"), ("critical", "R9")} <= rules
    assert page.locator(".card[data-indicator='critical']").count() >= 2


def test_errors_are_shown_with_their_status(page: Any, case: tuple[Path, kit.Fixture]) -> None:
    page.goto("/sandbox")
    page.wait_for_selector("body[data-ready='true']")
    page.click("#raw-details summary")
    page.fill("#raw", '{"hook": "patient-view", "context": {"userId": "Practitioner/x"}}')
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#status").startswith("400 Bad Request")
    assert "hookInstance" in page.inner_text("#error") or "patientId" in page.inner_text("#error")


def test_card_markdown_cannot_inject_html(page: Any) -> None:
    page.goto("/sandbox")
    page.wait_for_selector("body[data-ready='true']")
    html = page.evaluate(
        """() => {
            const box = document.createElement('div');
            box.appendChild(window.SandboxMarkdown.render(
              '## Data\\n**K 2.4** <img src=x onerror="window.pwned=1"> and *low*\\n' +
              '- [guide](https://www.nice.org.uk/guidance/ng133)\\n' +
              '- [bad](javascript:alert(1)) `code <b>`\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |'));
            return box.innerHTML;
        }"""
    )
    assert "<img" not in html and "&lt;img" in html
    assert "<h5>Data</h5>" in html and "<strong>K 2.4</strong>" in html and "<em>low</em>" in html
    assert 'href="https://www.nice.org.uk/guidance/ng133"' in html
    assert "javascript:" not in html.replace("[bad](javascript:", "")  # shown as text only
    assert "<a" not in html.split("bad")[0].rsplit("<li>", 1)[-1]
    assert "<code>code &lt;b&gt;</code>" in html
    assert "<td>1</td>" in html
    assert page.evaluate("() => window.pwned === undefined")


def test_the_browser_is_debians_chromium(browser: Any) -> None:
    banner = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True,
                            timeout=30, check=True).stdout  # fmt: skip
    assert browser.version in banner and "Debian" in banner
