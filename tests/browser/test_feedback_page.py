"""The after-visit feedback page in Chromium, against a real daemon, HQ and Mosquitto: a
member's order shows the consent choices, which reach HQ with the guest as their source, and
stay usable after the rating; an anonymous order's page shows none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from devtools.stack import wait_until

from .conftest import Stack, open_page


def _marketing(stack: Stack) -> dict[str, Any] | None:
    status, found = stack.hq_call("GET", f"/api/v1/members/{stack.member}/consents")
    assert status == 200, found
    history = [h for h in found["history"] if h["purpose"] == "marketing"]
    return history[-1] if history else None


def test_a_member_rates_and_manages_consent_on_the_feedback_page(
        stack: Stack, browser: Any, shots: Path) -> None:
    mine = stack.place([{"sku": "C001", "qty": 1}], member=stack.member)
    anonymous = stack.place([{"sku": "C001", "qty": 1}])
    assert mine["feedback_url"] and anonymous["feedback_url"]
    context, page, guard = open_page(browser, stack.edge.url)
    try:
        page.goto(stack.edge.url + anonymous["feedback_url"])
        page.wait_for_selector("#scores button")
        expect(page.locator("#order")).not_to_be_empty()
        assert page.locator("#consents").is_hidden()

        page.goto(stack.edge.url + mine["feedback_url"])
        page.wait_for_selector("#consents:not([hidden])")
        yes = page.locator(".consent[data-purpose=marketing] button[data-granted=true]")
        yes.click()
        expect(page.locator("#consent-msg")).to_contain_text("Saved")
        assert yes.get_attribute("aria-pressed") == "true"
        wait_until(lambda: (_marketing(stack) or {}).get("granted") is True,
                   what="the guest's consent at HQ")
        assert _marketing(stack) == {**(_marketing(stack) or {}), "source": "guest",
                                     "store": "s1"}

        page.click("#scores button[data-score='9']")
        page.click("#send")
        expect(page.locator("#msg")).to_contain_text("Thank")
        no = page.locator(".consent[data-purpose=marketing] button[data-granted=false]")
        assert no.is_enabled()  # the choices outlive the rating
        no.click()
        expect(no).to_have_attribute("aria-pressed", "true")
        expect(yes).to_have_attribute("aria-pressed", "false")
        wait_until(lambda: (_marketing(stack) or {}).get("granted") is False,
                   what="the withdrawal at HQ")
        page.screenshot(path=str(shots / "feedback-consents.png"), full_page=True)
        guard.check()
    finally:
        context.close()
