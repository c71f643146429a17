"""The model planners' tests share one fake OpenAI-compatible server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm import FakeOpenAI
from tests.fakes.scripted_model import KEY, MODEL


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, models=[MODEL]) as server:
        yield server
