"""`qualgent ci`: the CI pipeline's step, on the SDK (qualgent.client)."""

from qualgent.ci.commands import ci_app

__all__ = ["ci_app"]
