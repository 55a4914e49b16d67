"""HTML building blocks: every piece of visible text goes through ``label`` or ``raw`` here.

- ``label(key, **args)``: text from the i18n dictionary, tagged ``data-i18n`` so the browser can
  switch its language; args are formatted values (escaped like any data).
- ``raw(value)``: data (an account id, a price, a lesson title, an agent's rationale), tagged
  ``data-raw``; untrusted, so it is redacted and HTML-escaped.

Redaction removes the accounts' secret values and anything shaped like a key before escaping, so
a key that slipped into a lesson or an error message never reaches the page.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from stockbot.dashboard import i18n
from stockbot.log import Redactor


class Markup:
    """Escaping and tagging with one set of secrets to redact."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.redactor = Redactor(secrets)

    def clean(self, value: Any) -> str:
        """Redacted text of ``value`` (not yet escaped)."""
        return str(self.redactor.scrub("" if value is None else str(value)))

    def esc(self, value: Any) -> str:
        return html.escape(self.clean(value), quote=True)

    def raw(self, value: Any, tag: str = "span", cls: str = "") -> str:
        """Data shown as is (escaped), marked ``data-raw``."""
        return f"<{tag}{_cls(cls)} data-raw>{self.esc(value)}</{tag}>"

    def label(self, key: str, tag: str = "span", cls: str = "", **args: Any) -> str:
        """Dictionary text in English (the browser switches it), marked ``data-i18n``."""
        clean = {k: self.clean(v) for k, v in args.items()}
        attrs = f' data-i18n="{html.escape(key)}"'
        if clean:
            attrs += f' data-i18n-args="{html.escape(json.dumps(clean, ensure_ascii=False), quote=True)}"'
        return f"<{tag}{_cls(cls)}{attrs}>{html.escape(i18n.t(key, **clean))}</{tag}>"

    def enum(self, prefix: str, value: Any, tag: str = "span", cls: str = "") -> str:
        """A known value (state, severity, event kind) translated; an unknown one shown raw."""
        key = f"{prefix}.{value}"
        return self.label(key, tag, cls) if i18n.has(key) else self.raw(value, tag, cls)


def _cls(cls: str) -> str:
    return f' class="{html.escape(cls, quote=True)}"' if cls else ""


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any, signed: bool = False) -> str:
    """``$12,345.67``; with ``signed`` a gain gets ``+`` and a loss ``-``. Unknown: ``-``."""
    d = dec(value)
    if d is None:
        return "—"
    sign = "-" if d < 0 else ("+" if signed and d > 0 else "")
    return f"{sign}${abs(d):,.2f}"


def pct(share: Any, digits: int = 1) -> str:
    """A share as a percentage (0.123 -> ``12.3%``)."""
    d = dec(share)
    return "—" if d is None else f"{d * 100:.{digits}f}%"


def when(value: Any) -> str:
    """A timestamp as ``2026-01-05 15:45Z`` (UTC); unparseable text is returned as it is."""
    if value is None or value == "":
        return "—"
    ts = value
    if not isinstance(ts, datetime):
        try:
            ts = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if ts.tzinfo is None:  # the store writes aware UTC; a naive value can only be UTC
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%MZ")


def tone(value: Decimal | None) -> str:
    """CSS class for a signed amount."""
    if value is None or value == 0:
        return "flat"
    return "up" if value > 0 else "down"


def json_for_script(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survive,
    so neither ``</script>`` nor ``<!--`` in the data can end or bend the element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
