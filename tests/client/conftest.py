"""The CI tests' real HTTP proxy, for the SDK's tests too."""

from tests.ci.conftest import proxy  # noqa: F401 - a fixture
