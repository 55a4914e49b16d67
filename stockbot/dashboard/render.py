"""The dashboard page: one self-contained HTML file (CSS, JS and data inline; nothing fetched).

The page carries a Content-Security-Policy that allows only its own inline script and style (by
hash) and no network at all, so even a bug in escaping could not run injected code or call out.
Data reaches the script as JSON in ``<script type="application/json">`` with ``<`` escaped.
Before anything is written the finished page is checked for every secret of every account's
settings; a page that would contain one is refused (fail closed), never written.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import timedelta
from importlib import resources
from pathlib import Path

from stockbot.errors import StockbotError
from stockbot.config import memory_root
from stockbot.dashboard import i18n, metrics
from stockbot.dashboard.data import AccountData, Dashboard
from stockbot.dashboard.markup import Markup, json_for_script, when
from stockbot.dashboard.sections import account_title, panel
from stockbot.fsutil import atomic_write_text

STALE_AFTER = timedelta(hours=1)  # the timer renders every 30 minutes; two misses is a problem
MAX_CHART_POINTS = 1500


class RenderError(StockbotError):
    """The page could not be produced safely (it is then not written).

    Caller: operator fix (the previous page stays; the message says what is wrong).
    """


def static_text(name: str) -> str:
    """A file of ``stockbot/dashboard/static`` (shipped as package data)."""
    return resources.files("stockbot.dashboard").joinpath("static", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def chart_data(dash: Dashboard) -> dict:
    """Per account: equity and drawdown points as ``[epoch ms, value]`` (drawdown in percent)."""
    out = {}
    for a in dash.accounts:
        eq = metrics.downsample(list(a.equity), MAX_CHART_POINTS)
        dd = metrics.downsample(list(a.figures.drawdown) if a.figures else [], MAX_CHART_POINTS)
        out[a.key] = {
            "equity": [[int(ts.timestamp() * 1000), float(v)] for ts, v in eq],
            "drawdown": [[int(ts.timestamp() * 1000), round(float(v) * 100, 4)] for ts, v in dd],
        }
    return out


def _tab(m: Markup, a: AccountData, selected: bool) -> str:
    state = a.state_name.lower()
    flag = " error" if a.error else ""
    return (f'<button type="button" role="tab" id="tab-{a.key}" aria-controls="panel-{a.key}" '
            f'aria-selected="{"true" if selected else "false"}" tabindex="{0 if selected else -1}" '
            f'data-account="{a.key}"><span class="dot state-{state}{flag}"></span>{account_title(m, a)}</button>')


def _lang_button(lang: str) -> str:
    key = f"lang.{lang}"
    pressed = "true" if lang == i18n.DEFAULT_LANG else "false"
    return (f'<button type="button" class="lang-btn" data-lang="{lang}" aria-pressed="{pressed}" '
            f'data-i18n="{key}">{html.escape(i18n.t(key))}</button>')


def _hidden_label(id_: str, key: str) -> str:
    """A label for screen readers (visually hidden, still translated)."""
    return f'<span id="{id_}" class="sr-only" data-i18n="{key}">{html.escape(i18n.t(key))}</span>'


def render_page(dash: Dashboard) -> str:
    """The complete HTML document (English as rendered; the browser applies the saved language)."""
    m = Markup(dash.secrets)
    css = static_text("style.css")
    script = "\n".join((static_text("chart.js"), static_text("app.js")))
    csp = (f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(css)}'; "
           "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'")
    if dash.accounts:
        tabs = "".join(_tab(m, a, i == 0) for i, a in enumerate(dash.accounts))
        panels = "\n".join(panel(m, a, visible=i == 0) for i, a in enumerate(dash.accounts))
        body = (f'<nav class="tabs" role="tablist" aria-labelledby="accounts-label">'
                f'{_hidden_label("accounts-label", "page.accounts")}{tabs}</nav><main>{panels}</main>')
    else:
        body = f'<main><p class="alert warn">{m.label("page.no_accounts", root=str(memory_root()))}</p></main>'
    boot = {"generated": int(dash.generated_at.timestamp() * 1000), "staleAfterMs":
            int(STALE_AFTER.total_seconds() * 1000), "storageKey": i18n.STORAGE_KEY,
            "langs": list(i18n.LANGS), "defaultLang": i18n.DEFAULT_LANG}
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=True)}">
<meta name="referrer" content="no-referrer">
<title data-i18n="page.title">{html.escape(i18n.t("page.title"))}</title>
<style>{css}</style>
</head>
<body>
<header class="top">
<div class="brand"><h1>{m.label("page.title")}</h1><p class="meta">{m.label("page.rendered_at", ts=when(dash.generated_at))}</p></div>
<div class="lang" role="group" aria-labelledby="lang-label">{_hidden_label("lang-label", "page.language")}{_lang_button("en")}{_lang_button("zh")}</div>
</header>
<p id="stale" class="alert warn banner" hidden>{m.label("page.stale")}</p>
{body}
<footer>{m.label("page.refresh_note")}</footer>
<script type="application/json" id="i18n-data">{json_for_script(i18n.MESSAGES)}</script>
<script type="application/json" id="boot-data">{json_for_script(boot)}</script>
<script type="application/json" id="chart-data">{json_for_script(chart_data(dash))}</script>
<script>{script}</script>
</body>
</html>
"""
    leaked = [s for s in dash.secrets if len(s) >= 6 and s in page]
    if leaked:
        raise RenderError(f"refusing to write the dashboard: {len(leaked)} secret value(s) would appear in it")
    return page


def write_dashboard(out_dir: Path, dash: Dashboard) -> Path:
    """Render and atomically replace ``out_dir/index.html``; returns its path."""
    page = render_page(dash)
    path = Path(out_dir) / "index.html"
    atomic_write_text(path, page, mode=0o644)
    return path
