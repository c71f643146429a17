"""qualgent: a self-hostable platform for AI-driven mobile app testing."""

__version__ = "0.1.0"
