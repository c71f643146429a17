"""SMS codes for devices without a readable inbox, through a provider number (Twilio).

The webhook (routes) stores what a number receives; the worker reads a device's texts with
`read_messages` for the window of its run; an operator assigns numbers to devices
(`qualgent admin set-device-number`); the reaper deletes texts past sms_keep_hours.
"""

from qualgent.sms.inbox import clock, prune, read_messages
from qualgent.sms.numbers import NumberRefused, assign, numbers, unassign

__all__ = ["NumberRefused", "assign", "clock", "numbers", "prune", "read_messages", "unassign"]
