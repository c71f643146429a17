"""Devices served through a user's Appium server: iOS (XCUITest) and Android (UiAutomator2).

``AppiumDevice(url, capabilities)`` implements the Device protocol over W3C WebDriver;
``load_capabilities(path)`` reads a capabilities JSON file (flat or W3C form).
"""

from qualgent.drivers.appium.capabilities import load_capabilities, normalize_capabilities
from qualgent.drivers.appium.client import WebDriverClient, WebDriverError
from qualgent.drivers.appium.device import AppiumDevice

__all__ = ["AppiumDevice", "WebDriverClient", "WebDriverError", "load_capabilities",
           "normalize_capabilities"]
