"""Dashboard fixtures: sample accounts written through the real Store / LessonStore APIs into the
suite's temporary memory root, with untrusted text planted where an attacker could put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockbot.config import account_paths
from stockbot.flags import write_stop
from stockbot.lessons.files import LessonStore
from stockbot.lessons.model import Severity
from stockbot.store import Store

REPO = Path(__file__).resolve().parents[2]
SCRIPT_XSS = "<script>alert(1)</script>"
ATTR_XSS = '"><img src=x onerror=alert(1)>'
CLOSE_XSS = "</script><script>alert(2)</script>"


def plant_untrusted(account: str = "sp500") -> None:
    """Hostile text in a lesson title and trigger, an agent's rationale, a decision reason and the
    STOP flag's who/why: every place text from outside (LLMs, lesson files, operators) reaches."""
    lessons = LessonStore(account)
    lessons.create(lessons.new_draft(title=SCRIPT_XSS, trigger=ATTR_XSS, severity=Severity.HIGH, occurrences=99))
    with Store(account_paths(account)["state_db"]) as store:
        store.record_decision("condor-hostile", strategy="condor", action="HOLD", reason=CLOSE_XSS, params={})
        for agent in ("iv_rank", "trend", "range", "analyst"):
            store.record_vote("condor-hostile", agent=agent, model="scripted", action="HOLD", confidence=0.5,
                              latency_s=0.1, prompt_tokens=None, completion_tokens=None, cost_usd=None,
                              vote={"action": "HOLD", "confidence": 0.5, "rationale": ATTR_XSS},
                              raw_sha256=None, error=None)
        store.append_event("job_crash", {"job": "reconcile", "error": CLOSE_XSS})


@pytest.fixture
def sample(isolated_roots):
    """The three sample accounts (sp500, nasdaq, default) plus the repo's seed lessons."""
    from stockbot.dashboard.sample import build_sample

    build_sample(seed_lessons=REPO / "memory" / "lessons")
    return isolated_roots


@pytest.fixture
def hostile_sample(sample):
    """The sample with hostile text planted; returns the strings planted."""
    plant_untrusted("sp500")
    write_stop("nasdaq", CLOSE_XSS, who=ATTR_XSS)
    return {"script": SCRIPT_XSS, "attr": ATTR_XSS, "close": CLOSE_XSS}
