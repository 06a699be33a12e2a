"""The API docs page works in a real browser with no network beyond this server."""

from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_swagger_ui_lists_every_operation_from_local_assets_only(live_server: Any) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector(".opblock", timeout=30_000)

            assert page.locator(".opblock").count() >= 20
            assert page.get_by_text("/api/projects/{slug}/export/").count() == 1
            assert [url for url in requested if not url.startswith(live_server.url)] == []
            # Within the Content-Security-Policy: nothing refused (no inline style or script).
            assert [text for text in console if "Content Security Policy" in text] == []
        finally:
            browser.close()
