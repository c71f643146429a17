"""The rule-based planner, split along its seams: clauses (splitting compound steps), phrases
(quotes, numbers, target phrases), actions (tap, type, scroll, wait, ... rules), assertions
(verify / verify-absent rules), and the planner that applies them in order."""

from qualgent.agent.planning.rules.clauses import split_clauses
from qualgent.agent.planning.rules.planner import RULES, RulePlanner

__all__ = ["RULES", "RulePlanner", "split_clauses"]
