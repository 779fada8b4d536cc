"""The dashboard under the service's Content-Security-Policy, in Chromium: the pages work with
scripts from /static only (the DPO round picker submits without an inline handler), and a
script injected inline does not run; the page may not be framed."""

from __future__ import annotations

from browser_helpers import open_view


def test_the_dpo_round_picker_works_without_inline_script(page, service):
    open_view(page, service, "/runs/syn/dpo")
    with page.expect_navigation():
        page.select_option("select[name=round]", "2")
    assert page.url.endswith("/runs/syn/dpo?round=2")
    page.wait_for_selector("body[data-ready]")
    assert page.console.errors == []


def test_an_injected_inline_script_is_blocked(page, service):
    open_view(page, service, "/runs/syn")
    ran = page.evaluate("""() => {
        window.injected = false;
        const s = document.createElement('script');
        s.textContent = 'window.injected = true';
        document.body.appendChild(s);
        return window.injected;
    }""")
    assert ran is False
    assert any("Content Security Policy" in e for e in page.console.errors)
    response = page.request.get(service.url + "/runs/syn")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
