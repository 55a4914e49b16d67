"""One dictionary, two languages, and no visible text that bypasses it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from stockbot.dashboard import i18n
from stockbot.dashboard.data import collect_all
from stockbot.dashboard.render import render_page

CJK = re.compile(r"[\u4e00-\u9fff]")
# Keys whose Chinese text may equal the English one (language names, the product name).
SAME_IN_BOTH = {"lang.en", "lang.zh"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
VISIBLE_ATTRS = {"title", "alt", "placeholder", "aria-label", "value"}


def test_both_languages_have_the_same_keys_and_placeholders():
    en, zh = i18n.MESSAGES["en"], i18n.MESSAGES["zh"]
    assert set(en) == set(zh) and len(en) > 100
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        assert i18n.placeholders(en[key]) == i18n.placeholders(zh[key]), key


def test_chinese_is_chinese_not_a_copy():
    zh, en = i18n.MESSAGES["zh"], i18n.MESSAGES["en"]
    for key, text in zh.items():
        if key in SAME_IN_BOTH:
            continue
        assert text != en[key], f"{key}: Chinese text is the English text"
        assert CJK.search(text), f"{key}: no Chinese characters in {text!r}"
        # Chinese punctuation: no ASCII sentence colon/period glued to Chinese text.
        assert not re.search(r"[\u4e00-\u9fff][:.]$", text), f"{key}: use full-width punctuation: {text!r}"


def test_fill_and_missing_keys():
    assert i18n.t("kpi.closed_trades", n="3") == "3 closed trades"
    assert i18n.t("kpi.closed_trades", "zh", n="3") == "已平仓 3 笔"
    assert i18n.fill("{a} and {b}", {"a": "x"}) == "x and {b}"  # as the browser's fill does
    with pytest.raises(KeyError):
        i18n.t("no.such.key")


class TextAudit(HTMLParser):
    """Every visible text node must sit inside a data-i18n element (and equal its English text)
    or a data-raw element; script and style contents are not visible."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.offenders: list[str] = []
        self.labels: list[tuple[str, dict, str]] = []
        self._open_label: list[list] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in VISIBLE_ATTRS & set(a):
            if name == "value" and tag in ("progress", "meter"):
                continue
            self.offenders.append(f"<{tag} {name}={a[name]!r}>")
        if tag in VOID:
            return
        self.stack.append((tag, a))
        if "data-i18n" in a:
            self._open_label.append([a["data-i18n"], json.loads(a.get("data-i18n-args") or "{}"), ""])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1][0] == tag, f"unbalanced </{tag}> in {self.stack[-3:]}"
        t, a = self.stack.pop()
        if "data-i18n" in a:
            self.labels.append(tuple(self._open_label.pop()))

    def handle_data(self, data):
        if not data.strip():
            return
        tags = [t for t, _ in self.stack]
        if "script" in tags or "style" in tags:
            return
        if any("data-raw" in a for _, a in self.stack):
            return
        if self.stack and "data-i18n" in self.stack[-1][1]:
            self._open_label[-1][2] += data
            return
        self.offenders.append(f"{data.strip()!r} inside {' > '.join(tags[-3:])}")


def audit(page: str) -> TextAudit:
    parser = TextAudit()
    parser.feed(page)
    parser.close()
    assert not parser.stack, f"unclosed elements: {parser.stack[-3:]}"
    return parser


def test_no_visible_text_bypasses_the_dictionary(hostile_sample):
    page = render_page(collect_all())
    result = audit(page)
    assert result.offenders == []
    assert len(result.labels) > 200
    for key, args, text in result.labels:
        assert text == i18n.t(key, **args), key


def test_an_empty_memory_root_still_renders_only_dictionary_text():
    page = render_page(collect_all())
    result = audit(page)
    assert result.offenders == [] and ("page.no_accounts" in [k for k, _, _ in result.labels])


def test_the_dictionary_is_embedded_for_the_browser(sample):
    page = render_page(collect_all())
    blob = re.search(r'<script type="application/json" id="i18n-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(blob) == i18n.MESSAGES
    boot = json.loads(re.search(r'id="boot-data">(.*?)</script>', page, re.S).group(1))
    assert boot["storageKey"] == i18n.STORAGE_KEY == "stockbot.lang" and boot["langs"] == ["en", "zh"]


def test_the_audit_catches_text_outside_the_dictionary():
    caught = audit('<div><p>Equity</p><span data-raw>$1</span><button title="Close">'
                   '<span data-i18n="kpi.equity">Equity</span></button><script>var x = "hidden";</script></div>')
    assert caught.offenders == ["'Equity' inside div > p", "<button title='Close'>"]
    wrong = audit('<span data-i18n="kpi.closed_trades" data-i18n-args="{&quot;n&quot;: &quot;2&quot;}">5 closed trades</span>')
    key, args, text = wrong.labels[0]
    assert (key, args) == ("kpi.closed_trades", {"n": "2"}) and text != i18n.t(key, **args)
