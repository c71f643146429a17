"""Hostile builds, written once per session to a temp dir (several take a second to build)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builds.hostile import BUILDS


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """hostile("lying_1g.apk") -> the path of that build (see hostile.BUILDS)."""
    root = tmp_path_factory.mktemp("hostile")

    def get(name: str) -> Path:
        path = root / name
        if not path.exists():
            path.write_bytes(BUILDS[name]())
        return path

    return get
