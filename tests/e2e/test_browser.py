"""A real browser at the door: Playwright drives Debian's Chromium through the gateway.

dave signs in through the fake GitHub's OAuth page, submits `service:create` from the
Prefect UI's form (which no longer asks who he is) and sees the run Completed, tagged
`requester:dave`; erin, in no team, submits the same form and sees it refused with the
reason. Chromium comes from apt (`make chromium`), not from a Playwright download.

Playwright's sync API runs its event loop on the test's thread for as long as it is
open; Prefect's sync-compatible calls in later tests on the same worker would then find a
running loop and hand back coroutines. So the browser lives in this test alone (not in
pytest-playwright's session-wide fixtures).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, STACK_GROUP]

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium on a closed network keeps trying Google's services.
QUIET_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Page, stack: Stack, handle: str, path: str) -> None:
    """Open `path` at the gateway; it sends the browser to GitHub, where `handle` signs in."""
    page.goto(f"{stack.gateway_url}{path}")
    expect(page).to_have_title(re.compile("Sign in to GitHub"))
    page.fill("#login", handle)
    page.click("#authorize")
    page.wait_for_url(f"{stack.gateway_url}{path}")


def fill_service_create(page: Page, *, name: str, team: str, owner: str) -> None:
    fields = page.locator("textarea.p-textarea__control")
    expect(fields.first).to_be_visible(timeout=30_000)
    # The form's text fields, in the request model's order: name, team, owner, description.
    fields.nth(0).fill(name)
    fields.nth(1).fill(team)
    fields.nth(2).fill(owner)
    page.get_by_role("button", name="Submit").click()


def run_of(stack: Stack, handle: str, *, deployment_id: str, service: str) -> dict[str, Any]:
    """The newest run of the deployment for `service`, once it is final (read as `handle`)."""
    deadline = time.monotonic() + 180
    with stack.api(handle) as api:
        while True:
            runs = api.post(
                "/flow_runs/filter",
                json={
                    "flow_runs": {"tags": {"all_": [f"service:{service}"]}},
                    "deployments": {"id": {"any_": [deployment_id]}},
                    "sort": "EXPECTED_START_TIME_DESC",
                    "limit": 1,
                },
            ).json()
            if runs and runs[0]["state"]["type"] in {"COMPLETED", "FAILED", "CRASHED"}:
                return dict(runs[0])
            assert time.monotonic() < deadline, f"no final run of {service}: {runs}"
            time.sleep(1)


def test_dave_runs_service_create_from_the_form_and_erin_is_refused(
    stack: Stack, browser: Browser
) -> None:
    with stack.api("dave") as api:
        deployment = api.get("/deployments/name/service-create/service:create").json()
    form = f"/deployments/deployment/{deployment['id']}/run"

    # Closed at the end: an open Prefect UI keeps polling the API for the rest of the suite.
    contexts = [browser.new_context(), browser.new_context()]
    try:
        see_dave_run_it_and_erin_refused(stack, contexts, form=form, deployment_id=deployment["id"])
    finally:
        for context in contexts:
            context.close()


def see_dave_run_it_and_erin_refused(
    stack: Stack, contexts: list[BrowserContext], *, form: str, deployment_id: str
) -> None:
    dave = contexts[0].new_page()
    sign_in(dave, stack, "dave", form)
    fill_service_create(dave, name="web", team="payments", owner="carol")
    expect(dave).not_to_have_url(re.compile(r"/run$"), timeout=30_000)
    run = run_of(stack, "dave", deployment_id=deployment_id, service="web")
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert "requester:dave" in run["tags"]
    assert run["parameters"]["request"]["requester"] == "dave"
    dave.goto(f"{stack.gateway_url}/runs/flow-run/{run['id']}")
    expect(dave.get_by_text("Completed").first).to_be_visible(timeout=30_000)
    journal = stack.paved("journal", "list", "--service", "web", "--json")
    entry = next(e for e in json.loads(journal.stdout) if e["flow_run_id"] == run["id"])
    assert (entry["requester"], entry["state"]) == ("dave", "Completed")

    erin = contexts[1].new_page()
    sign_in(erin, stack, "erin", form)
    # The form does not ask who you are: the gateway knows.
    expect(erin.get_by_text("Requester", exact=True)).to_have_count(0)
    fill_service_create(erin, name="erins", team="payments", owner="carol")
    expect(erin.get_by_text("you are erin, not a member of team payments").first).to_be_visible()
    with stack.api("alice") as api:
        tried = api.post(
            "/flow_runs/filter", json={"flow_runs": {"tags": {"all_": ["service:erins"]}}}
        ).json()
    assert tried == [], "a refused request makes no run"
