"""The model-backed agent: a model client over the providers' official clients (`client`).

The planner's exports (prompt, LLMPlanner, HybridPlanner, PlanCache) come beside these.
"""

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

__all__ = [
    "AnthropicMessages",
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
