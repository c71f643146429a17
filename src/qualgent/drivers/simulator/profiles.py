"""Device profiles for the simulator: ``parse_simulator_spec`` and ``SIMULATED_FLEET``."""

from __future__ import annotations

import re

from qualgent.drivers.base import DeviceProfile

# Screen sizes in pixels of devices the fleet knows; others get one by form factor.
KNOWN_SCREENS: dict[str, tuple[int, int]] = {
    "pixel 7": (1080, 2400),
    "iphone 14 pro": (1179, 2556),
    "ipad pro": (2048, 2732),
}
DEFAULT_SCREENS = {"phone": (1080, 2400), "tablet": (2048, 2732)}
FLAGS = ("sms", "tablet", "phone")
_PLATFORMS = {"android": "Android", "ios": "iOS"}


def parse_simulator_spec(spec: str) -> DeviceProfile:
    """A profile from ``name:platform:os_version[:flags]``, e.g. ``"Pixel 7:Android:14:sms"``.

    Flags, separated by commas or colons: ``sms`` (the device receives texts), ``tablet`` or
    ``phone`` (the default). Raises ValueError with the reason when the spec is malformed.
    """
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) < 3 or not all(parts[:3]):
        raise ValueError(f"simulator spec {spec!r}: expected name:platform:os_version[:flags], "
                         f"e.g. 'Pixel 7:Android:14:sms'")
    name, platform, os_version = parts[:3]
    if platform.lower() not in _PLATFORMS:
        raise ValueError(f"simulator spec {spec!r}: platform must be Android or iOS, "
                         f"not {platform!r}")
    flags = [f.strip().lower() for f in re.split(r"[,:]", ":".join(parts[3:])) if f.strip()]
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ValueError(f"simulator spec {spec!r}: unknown flag {unknown[0]!r} "
                         f"(flags: {', '.join(FLAGS)})")
    if "tablet" in flags and "phone" in flags:
        raise ValueError(f"simulator spec {spec!r}: a device is a phone or a tablet, not both")
    form_factor = "tablet" if "tablet" in flags else "phone"
    width, height = KNOWN_SCREENS.get(name.lower(), DEFAULT_SCREENS[form_factor])
    serial = "sim-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return DeviceProfile(name=name, platform=_PLATFORMS[platform.lower()],
                         os_version=os_version, form_factor=form_factor,
                         sms_enabled="sms" in flags, serial=serial, width=width, height=height)


SIMULATED_FLEET: tuple[DeviceProfile, ...] = (
    parse_simulator_spec("Pixel 7:Android:14:sms"),
    parse_simulator_spec("iPhone 14 Pro:iOS:16.0"),
    parse_simulator_spec("iPad Pro:iOS:16.0:tablet"),
)
