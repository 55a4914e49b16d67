"""The dashboard in a real browser: headless Debian Chromium driven by playwright.

Served by the ``dashboard serve`` server on 127.0.0.1: open the page, switch tabs, draw charts,
toggle to 中文, reload and re-render (the language persists), prove hostile text is inert, and
keep screenshots as test artifacts. CI installs the browser (``apt-get install -y chromium``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from stockbot.dashboard import i18n
from stockbot.dashboard.data import collect_all
from stockbot.dashboard.render import write_dashboard
from stockbot.dashboard.serve import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian chromium not installed (/usr/bin/chromium): apt-get install -y chromium")

# Every visible text node must sit under data-i18n or data-raw; returns offenders and the labels.
AUDIT_JS = """() => {
  const offenders = [], labels = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('script,style')) continue;
    if (el.closest('[data-raw]')) continue;
    if (!el.hasAttribute('data-i18n')) offenders.push(n.textContent.trim().slice(0, 60));
  }
  document.querySelectorAll('[data-i18n]').forEach(el => labels.push(
    [el.getAttribute('data-i18n'), JSON.parse(el.getAttribute('data-i18n-args') || '{}'), el.textContent]));
  return {offenders, labels, title: document.title, lang: document.documentElement.lang};
}"""


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(hostile_sample, tmp_path):
    out = tmp_path / "site"
    write_dashboard(out, collect_all())
    server, url = serve_in_thread(out)
    try:
        yield out, url
    finally:
        server.shutdown()
        server.server_close()


def visible_panels(page) -> list[str]:
    return page.eval_on_selector_all(".panel", "els => els.filter(e => !e.hidden && e.offsetParent !== null)"
                                               ".map(e => e.dataset.account)")


def assert_charts_drawn(page, account: str, min_points: int = 5) -> None:
    for kind in ("equity", "drawdown"):
        line = page.locator(f'#panel-{account} .chart[data-chart="{kind}"] svg path.line')
        assert line.count() == 1, kind
        box = line.bounding_box()
        assert box and box["width"] > 200, (kind, box)
        assert kind == "drawdown" or box["height"] > 5, box  # an equity curve is never a flat line here
        assert line.get_attribute("d").count("L") >= min_points
        ticks = page.eval_on_selector_all(f'#panel-{account} .chart[data-chart="{kind}"] svg text.tick[text-anchor="end"]',
                                          "els => els.map(e => e.textContent)")
        assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks  # value axis: distinct labels


def audit_language(page, lang: str) -> None:
    result = page.evaluate(AUDIT_JS)
    assert result["offenders"] == []
    assert result["lang"] == ("zh-CN" if lang == "zh" else "en")
    assert result["title"] == i18n.t("page.title", lang)
    for key, args, text in result["labels"]:
        assert text == i18n.t(key, lang, **args), key


def test_dashboard_in_chromium(browser, site, hostile_sample, tmp_path):
    out, url = site
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    dialogs, errors, requests = [], [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))

    page.goto(url)
    page.wait_for_selector("html[data-ready=true]")
    assert visible_panels(page) == ["_default"]  # the first tab
    assert page.locator('[role="tab"][aria-selected="true"]').get_attribute("data-account") == "_default"
    assert_charts_drawn(page, "_default")
    audit_language(page, "en")

    # Switch tabs by click, then by keyboard.
    page.click('[role="tab"][data-account="sp500"]')
    assert visible_panels(page) == ["sp500"] and page.url.endswith("#sp500")
    assert_charts_drawn(page, "sp500", min_points=100)
    page.focus('[role="tab"][data-account="sp500"]')
    page.keyboard.press("ArrowLeft")
    assert visible_panels(page) == ["nasdaq"]
    assert page.locator("#panel-nasdaq .badge.stop").is_visible()
    page.keyboard.press("ArrowRight")
    assert visible_panels(page) == ["sp500"]

    # Hovering a chart shows the value under the pointer.
    overlay = page.locator('#panel-sp500 .chart[data-chart="equity"] rect.overlay')
    box = overlay.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = page.locator('#panel-sp500 .chart[data-chart="equity"] text.tip.strong')
    assert tip.text_content().startswith("$")

    # Hostile text shows literally and runs nothing.
    panel = page.locator("#panel-sp500")
    assert panel.locator(".ltitle", has_text=hostile_sample["script"]).count() >= 1
    assert panel.locator(".rationale", has_text=hostile_sample["attr"]).count() == 4
    assert panel.locator(".reason", has_text=hostile_sample["close"]).count() == 1
    assert page.locator("#panel-nasdaq", has_text=hostile_sample["attr"]).count() == 1  # STOP flag's who
    assert page.evaluate("document.querySelectorAll('img, iframe').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 4

    # 中文, persisted across a reload and a re-render.
    page.click('button[data-lang="zh"]')
    assert page.locator("h1").text_content() == i18n.t("page.title", "zh")
    assert page.evaluate("localStorage.getItem('stockbot.lang')") == "zh"
    audit_language(page, "zh")
    page.screenshot(path=str(tmp_path / "dashboard-zh.png"), full_page=True)
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    assert visible_panels(page) == ["sp500"]  # the tab is kept too (URL hash)
    audit_language(page, "zh")
    assert_charts_drawn(page, "sp500")

    old = page.locator(".brand .meta").text_content()
    dash = collect_all()
    write_dashboard(out, replace(dash, generated_at=dash.generated_at + timedelta(minutes=30)))
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    assert page.locator(".brand .meta").text_content() != old  # the new render...
    assert page.locator(".brand .meta").text_content().startswith("生成于")  # ...still in Chinese
    audit_language(page, "zh")

    # Back to English, persisted too.
    page.click('button[data-lang="en"]')
    page.reload()
    page.wait_for_selector("html[data-ready=true]")
    audit_language(page, "en")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    print(f"screenshots kept in {tmp_path}")

    assert dialogs == []
    assert errors == []  # no script error, no CSP violation (the inline hashes are right)
    assert requests and all(r.startswith(url) for r in requests)  # nothing but our own page


def test_a_stale_page_says_so(browser, hostile_sample, tmp_path):
    dash = collect_all()
    write_dashboard(tmp_path, replace(dash, generated_at=dash.generated_at - timedelta(hours=2)))
    server, url = serve_in_thread(tmp_path)
    try:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("html[data-ready=true]")
        assert page.locator("#stale").is_visible()
        assert page.locator("#stale").text_content() == i18n.t("page.stale")
        write_dashboard(tmp_path, dash)
        page.reload()
        page.wait_for_selector("html[data-ready=true]")
        assert not page.locator("#stale").is_visible()
    finally:
        server.shutdown()
        server.server_close()
