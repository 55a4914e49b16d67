"""The learning-loop efficacy suite: one scenario per failure class on the local exchange.

Each scenario (1) makes the failure happen for real on ``stockbot sim`` through alpaca-py,
(2) captures it the way the daemon does (``LessonCapture``) and checks the lesson is retrievable
for the situation, and (3) replays the same situation and checks it is prevented or handled, by a
named mechanism: ``guard`` (a lesson guard in the risk gate), ``code`` (a rule, an executor, the
preflight... that the lesson's fix names) or ``prompt`` (the lesson reaches the agents). A test
records its class only when every step passed; the summary prints "classes prevented / classes"
for RELIABILITY.md (``make efficacy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from pydantic import SecretStr

from learning_helpers import ACCOUNT, CLASSES, KEY, SECRET

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.config import AlpacaSettings, LessonSettings
from stockbot.lessons.capture import LessonCapture
from stockbot.lessons.files import LessonStore
from stockbot.lessons.index import LessonIndex
from stockbot.lessons.service import LessonService
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import SimServer
from stockbot.store import Store

RESULTS: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="session")
def embedder():
    from stockbot.lessons.embedder import get_embedder

    return get_embedder()


@dataclass
class Loop:
    """The learning loop of one account against one sim."""

    sim: SimServer
    broker: AlpacaBroker
    store: Store
    service: LessonService
    capture: LessonCapture
    recorded: list = field(default_factory=list)

    def posts(self) -> list:
        return self.sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)

    def learn(self, failure, *, expect: str, query: str | None = None):
        """Capture ``failure``; the captured lesson (or the seed ``expect``) is retrieved for the
        situation. Returns the CaptureResult."""
        result = self.capture.capture(failure)
        assert result is not None and result.lesson_id, "capture failed"
        hits = [r.id for r in self.service.search(query or failure.summary, 5)]
        assert {result.lesson_id, expect} & set(hits), (result.lesson_id, expect, hits)
        return result

    def broker_for(self, key: str = KEY, secret: str = SECRET) -> AlpacaBroker:
        return AlpacaBroker(AlpacaSettings(api_key=SecretStr(key), secret_key=SecretStr(secret), base_url=self.sim.url),
                            backoff_s=0.01)


@pytest.fixture
def record():
    def done(cls: str, mechanism: str, how: str) -> None:
        assert cls in CLASSES, cls
        RESULTS[cls] = (mechanism, how)
    return done


@pytest.fixture
async def make_loop(embedder, seeds):
    opened: list = []

    async def make(**sim_kw) -> Loop:
        accounts = sim_kw.pop("accounts", None) or [AccountSpec(key_id=KEY, secret=SECRET,
                                                                equity=Decimal(sim_kw.pop("equity", "100000")))]
        sim = SimServer(seed=sim_kw.pop("seed", 11), always_open=sim_kw.pop("always_open", True), accounts=accounts,
                        **sim_kw)
        await sim.start()
        store = Store.for_account(ACCOUNT)
        index = LessonIndex.open(embedder, ACCOUNT)
        settings = LessonSettings()
        service = LessonService(LessonStore(ACCOUNT), index, settings)
        service.startup()
        loop = Loop(sim, None, store, service, LessonCapture(ACCOUNT, store=store, index=index, settings=settings))
        loop.broker = loop.broker_for()
        opened.append((sim, store, index))
        return loop

    yield make
    for sim, store, index in opened:
        store.close()
        index.close()
        await sim.stop()


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("LEARNING: failure classes prevented or handled on their repeat")
    for cls in CLASSES:
        mech, how = RESULTS.get(cls, ("-", "NOT PREVENTED (scenario did not run or failed)"))
        tr.write_line(f"{cls:<44} {mech:<7} {how}")
    by = {}
    for mech, _ in RESULTS.values():
        by[mech] = by.get(mech, 0) + 1
    tr.write_line(f"classes prevented: {len(RESULTS)} / {len(CLASSES)}  "
                  f"(by mechanism: {', '.join(f'{k} {v}' for k, v in sorted(by.items()))})")
