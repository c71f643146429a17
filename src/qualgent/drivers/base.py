"""What every device driver offers the agent: observe (UI hierarchy, screenshot) and act.

The simulator implements this now; ADB and Appium drivers implement the same protocol. Calls
are blocking (a real device answers over a socket); the worker runs each device in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from qualgent.queue.states import FailureCategory


class ElementKind(StrEnum):
    """What an element is, in the words every driver maps its widget classes to.

    StrEnum: a kind compares equal to its value, so recorded selectors ({"text": ...,
    "kind": "button"}) and JSON stay plain strings.
    """

    BUTTON = "button"
    TEXT = "text"
    INPUT = "input"  # a text field
    SEARCH = "search"  # a search field
    SWITCH = "switch"
    CHECKBOX = "checkbox"
    LINK = "link"
    TAB = "tab"
    IMAGE = "image"
    LIST = "list"  # a scrolling container of items
    LIST_ITEM = "list_item"
    ROW = "row"  # a row of a table or list that is not reported as an item
    PROGRESS = "progress"  # a spinner or progress bar: the screen is still loading


EDITABLE_KINDS = frozenset({ElementKind.INPUT, ElementKind.SEARCH})  # text goes in
TOGGLE_KINDS = frozenset({ElementKind.SWITCH, ElementKind.CHECKBOX})  # on or off
LIST_KINDS = frozenset({ElementKind.LIST_ITEM, ElementKind.ROW})  # one of many alike


@dataclass(frozen=True)
class Bounds:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def center(self) -> tuple[int, int]:
        return (self.left + self.right) // 2, (self.top + self.bottom) // 2

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.right, self.bottom]


@dataclass(frozen=True)
class Element:
    """One node of the UI hierarchy, as Android's uiautomator or XCUITest report it."""

    kind: ElementKind  # a plain string is taken and turned into its ElementKind
    bounds: Bounds
    text: str | None = None  # visible text (an input's current value)
    description: str | None = None  # content description / accessibility label
    id: str | None = None  # resource id / accessibility identifier
    hint: str | None = None  # an input's placeholder
    clickable: bool = False
    editable: bool = False
    checked: bool | None = None  # switches and checkboxes
    focused: bool = False
    scrollable: bool = False

    def __post_init__(self) -> None:
        if type(self.kind) is not ElementKind:
            object.__setattr__(self, "kind", ElementKind(self.kind))


@dataclass(frozen=True)
class Hierarchy:
    """What is on screen now: only elements inside the viewport are listed."""

    width: int
    height: int
    elements: tuple[Element, ...]
    package: str | None = None  # the app in the foreground, None on the home screen


@dataclass(frozen=True)
class Sms:
    sender: str
    body: str
    received_at: float


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    platform: str  # "Android" | "iOS"
    os_version: str
    form_factor: str = "phone"  # "phone" | "tablet"
    sms_enabled: bool = False
    serial: str = ""
    width: int = 1080
    height: int = 2400


class DeviceFailure(Exception):
    """A failure of the device or the app under test, not of the test's logic.

    `category` is APP (the app misbehaved) or INFRASTRUCTURE (the device or host).
    """

    category = FailureCategory.INFRASTRUCTURE


class AppCrashed(DeviceFailure):
    category = FailureCategory.APP


class InstallFailed(DeviceFailure):
    category = FailureCategory.APP


class DeviceLost(DeviceFailure):
    category = FailureCategory.INFRASTRUCTURE


@dataclass(frozen=True)
class DeviceTiming:
    """How long the agent waits on this device. The simulator answers at once; a real device
    takes up to a second or two to dump its hierarchy, so its waits must be longer."""

    poll_interval: float = 0.25  # between re-reads of the screen while waiting
    find_timeout: float = 2.0  # for a tap/type target to appear before scrolling for it
    assert_timeout: float = 2.0  # for a check to come true


@dataclass
class RunCapture:
    """What a device recorded over one run, as files in the directory given to `end_run`."""

    log: Path | None = None  # the device log (logcat filtered to the app; Appium's syslog)
    videos: list[Path] = field(default_factory=list)  # screen recording chunks, in order


@dataclass
class InstalledApp:
    package: str
    label: str | None = None
    extra: dict = field(default_factory=dict)


class Device(Protocol):
    profile: DeviceProfile
    timing: DeviceTiming

    def ping(self) -> None:
        """A cheap check that the device answers; raises DeviceLost if it does not."""
        ...

    def begin_run(self, package: str) -> None:
        """The run on the installed `package` starts: SMS received before now are not this
        run's, the crash log is cleared, animations are turned off, and log and video capture
        start where the device can. Raises DeviceLost."""
        ...

    def end_run(self, out_dir: Path) -> RunCapture:
        """The run is over: stop capturing, restore what begin_run changed, and write what was
        captured into `out_dir`. A capture that failed is left out (and logged), never raised;
        only DeviceLost is."""
        ...

    def install(self, build: Path) -> InstalledApp:
        """Install a build file (.apk/.ipa); raises InstallFailed."""
        ...

    def launch(self, package: str) -> None: ...
    def stop(self, package: str) -> None: ...
    def hierarchy(self) -> Hierarchy:
        """Raises AppCrashed if the app died, DeviceLost if the device is gone."""
        ...

    def screenshot(self) -> bytes:
        """A PNG of the screen."""
        ...

    def tap(self, x: int, y: int) -> None: ...
    def type_text(self, text: str) -> None:
        """Type into the focused input."""
        ...

    def clear(self) -> None:
        """Clear the focused input."""
        ...

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None: ...
    def back(self) -> None: ...
    def key(self, name: str) -> None:
        """A key event: "enter", "home", "back", "search"."""
        ...

    def read_sms(self) -> list[Sms]:
        """Messages received since `begin_run` (or since the device was set up), oldest
        first."""
        ...
