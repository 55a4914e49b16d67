"""Fixtures for the consensus tests: the scripted agent endpoint on loopback, no internet.

The sim's full server (``stockbot.sim.app.SimServer``) composes ``stockbot.sim.agents.register``;
these tests use the standalone ``AgentServer`` (only the agent routes) so they do not depend on
the rest of the sim.
"""

from __future__ import annotations

import os

import pytest

# Before anything imports litellm: never fetch the price map from the internet.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from stockbot.consensus.context import LessonRef, MarketContext, StrikeCandidate  # noqa: E402
from stockbot.sim.agents import AgentServer  # noqa: E402

@pytest.fixture
async def agent_server():
    async with AgentServer(max_wait_s=30.0) as srv:
        yield srv


def condor_context(*, iv_rank: float = 55.0, market_text: str = "", lessons=(), trend: float = 0.0,
                   dte_candidates=(28, 35, 42)) -> MarketContext:
    """A quiet SPY market (the analyst and the rules ENTER at IV rank 55), or a trending one."""
    closes = tuple(500.0 * (1 + trend * i / 40) + (i % 5) * 0.8 for i in range(41))
    spot = closes[-1]
    strikes = tuple(StrikeCandidate(right=r, strike=round(spot + off), delta=d, dte=35)
                    for r, off, d in (("put", -30, -0.12), ("put", -25, -0.16), ("put", -20, -0.21),
                                      ("call", 20, 0.21), ("call", 25, 0.16), ("call", 30, 0.12)))
    return MarketContext(strategy="condor", symbol="SPY", spot=spot, iv_rank=iv_rank, iv=0.20,
                         dte_candidates=dte_candidates, strikes=strikes, recent_closes=closes,
                         market_text=market_text, lessons=tuple(lessons))


def lesson(id_: str = "LL-221", title: str = "Orphan put", prevention: str = "Use mleg orders") -> LessonRef:
    return LessonRef(id=id_, title=title, prevention=prevention, score=0.8)


@pytest.fixture
def make_condor():
    """Factory fixture: ``make_condor(iv_rank=..., market_text=..., lessons=..., trend=...)``."""
    return condor_context


@pytest.fixture
def make_lesson():
    return lesson
