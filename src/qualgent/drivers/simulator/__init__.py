"""The simulator: an in-memory device that runs declarative app models (see ``model``).

``SimulatedDevice(profile)`` implements the ``Device`` protocol; ``demo_shop_model()`` is the
built-in Demo Shop app; ``parse_simulator_spec("Pixel 7:Android:14:sms")`` makes a profile and
``SIMULATED_FLEET`` lists the three standard ones. ``LogLine`` is one line of a simulated
device's log (``SimulatedDevice.log_lines``).
"""

from qualgent.drivers.simulator.demo_shop import demo_shop_model
from qualgent.drivers.simulator.device import LogLine, SimulatedDevice
from qualgent.drivers.simulator.model import AppModel, ModelError, load_model
from qualgent.drivers.simulator.profiles import SIMULATED_FLEET, parse_simulator_spec

__all__ = [
    "SIMULATED_FLEET",
    "AppModel",
    "LogLine",
    "ModelError",
    "SimulatedDevice",
    "demo_shop_model",
    "load_model",
    "parse_simulator_spec",
]
