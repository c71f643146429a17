"""Devices the agent drives: the Device protocol and its implementations."""
