"""Android devices over ADB (adbutils): the ``AdbDevice`` driver and ``AdbSource`` discovery.

``xml`` turns UI dumps into hierarchies (also used for Appium's UiAutomator2 page source),
``text`` prepares typed text, ``console`` injects SMS into an emulator.
"""

from qualgent.drivers.android.console import send_sms
from qualgent.drivers.android.device import AdbDevice
from qualgent.drivers.android.discovery import AdbSource, adb_client
from qualgent.drivers.android.xml import DumpError, parse_dump

__all__ = ["AdbDevice", "AdbSource", "DumpError", "adb_client", "parse_dump", "send_sms"]
