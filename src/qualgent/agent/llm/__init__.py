"""The model-backed agent: a model client over the providers' official clients (`client`),
the prompt and tool schemas (`prompt`), the planner that lets a model do a step in a bounded
loop and the hybrid that asks it only where the rules fall short (`planner`), and the plan
cache (`cache`).
"""

from qualgent.agent.llm.cache import PlanCache, cache_key
from qualgent.agent.llm.client import (
    Answer,
    AnthropicMessages,
    MalformedAnswer,
    Message,
    ModelClient,
    ModelRefused,
    ModelUnavailable,
    OpenAIChat,
    Tool,
    model_client,
)
from qualgent.agent.llm.planner import HybridPlanner, LLMPlanner
from qualgent.agent.llm.prompt import PROMPT_VERSION, element_list

__all__ = [
    "PROMPT_VERSION",
    "AnthropicMessages",
    "HybridPlanner",
    "LLMPlanner",
    "PlanCache",
    "cache_key",
    "element_list",
    "Answer",
    "MalformedAnswer",
    "Message",
    "ModelClient",
    "ModelRefused",
    "ModelUnavailable",
    "OpenAIChat",
    "Tool",
    "model_client",
]
