"""Multi-agent consensus: concurrent votes (LLM and rule agents), supermajority, fail-closed.

Importing this package does not import litellm (slow, and only needed for LLM agents).
"""

from stockbot.consensus.agents import build_agents
from stockbot.consensus.aggregate import Tally, required_votes, tally
from stockbot.consensus.ballot import Agent, Ballot
from stockbot.consensus.context import (AccountConstraints, EquityCandidate, LessonRef, MarketContext,
                                        StrikeCandidate, price_action)
from stockbot.consensus.prompt import Prompt, build_prompt
from stockbot.consensus.rules import RuleAgent, RuleDefaults
from stockbot.consensus.runner import ConsensusResult, ConsensusRunner
from stockbot.consensus.schema import (CondorProposal, EquityParams, ParamBounds, ParsedAnswer, SlatePick, Vote,
                                       parse_answer)

__all__ = [
    "AccountConstraints", "Agent", "Ballot", "CondorProposal", "ConsensusResult", "ConsensusRunner",
    "EquityCandidate", "EquityParams", "LessonRef", "MarketContext", "ParamBounds", "ParsedAnswer", "Prompt",
    "RuleAgent", "RuleDefaults", "SlatePick", "StrikeCandidate", "Tally", "Vote", "build_agents",
    "build_prompt", "parse_answer", "price_action", "required_votes", "tally",
]
