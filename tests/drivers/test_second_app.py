"""Field Notes, the second simulated app: each of its idioms driven through the simulator and
through the agent (run_steps), and the model format's scrolling screens it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualgent.agent import AgentOptions, RulePlanner, run_steps
from qualgent.builds.demo import write_field_notes_build
from qualgent.drivers.base import ElementKind
from qualgent.drivers.simulator import ModelError, SimulatedDevice, load_model, parse_simulator_spec
from qualgent.drivers.simulator.field_notes import LABEL, PACKAGE, field_notes_model

FAST = AgentOptions(find_timeout=0.3, assert_timeout=0.3, poll_interval=0.05)
ALLOWED = ['Tap "Get started"', 'Tap "Allow"']  # onto the notes list, location allowed


def _device(spec: str = "Pixel 7:Android:14") -> SimulatedDevice:
    device = SimulatedDevice(parse_simulator_spec(spec))
    device.install_model(field_notes_model())
    device.begin_run(PACKAGE)
    return device


def _run(steps: list[str], device: SimulatedDevice | None = None):  # noqa: ANN202
    device = device or _device()
    outcome = run_steps(device, PACKAGE, steps, planner=RulePlanner(), options=FAST)
    return outcome, device


def _texts(device: SimulatedDevice) -> list[str]:
    return [e.text for e in device.hierarchy().elements if e.text]


def _passed(outcome) -> None:  # noqa: ANN001
    assert outcome.status.value == "passed", outcome.explanation


@pytest.mark.parametrize(("platform", "name"), [("android", "fn.apk"), ("ios", "fn.ipa")])
def test_its_build_installs_on_the_simulator(tmp_path: Path, platform: str, name: str) -> None:
    build = tmp_path / name
    write_field_notes_build(build, platform)
    spec = "Pixel 7:Android:14" if platform == "android" else "iPhone 14 Pro:iOS:16.0"
    device = SimulatedDevice(parse_simulator_spec(spec))
    app = device.install(build)
    assert (app.package, app.label, app.extra["version_name"]) == (PACKAGE, LABEL, "2.3.1")
    device.launch(app.package)
    assert "Get started" in _texts(device)


def test_the_permission_prompt_allows_or_denies_location() -> None:
    outcome, device = _run([*ALLOWED, 'Verify "Location is off" is not shown'])
    _passed(outcome)
    assert "Heron at the weir" in _texts(device)
    outcome, device = _run(['Tap "Get started"',
                            'Verify "Allow Field Notes to access this device\'s location?" is '
                            'shown', 'Tap "Don\'t allow"',
                            'Verify "Location is off: new notes will not be tagged with a '
                            'place." is shown'])
    _passed(outcome)


def test_the_confirm_dialog_deletes_or_cancels() -> None:
    outcome, _ = _run([*ALLOWED, 'Tap "Heron at the weir"', 'Tap "Delete note"',
                       'Verify "Delete this note?" is shown', 'Tap "Delete"',
                       'Verify "Note deleted" is shown'])
    _passed(outcome)
    outcome, device = _run([*ALLOWED, 'Tap "Heron at the weir"', 'Tap "Delete note"',
                            'Tap "Cancel"', 'Verify "Place: Mill Pond" is shown'])
    _passed(outcome)
    assert "Note deleted" not in _texts(device)


def test_the_alert_is_dismissed_with_ok() -> None:
    outcome, device = _run([*ALLOWED, 'Tap "Kingfisher sighting"', 'Tap "Share"',
                            'Verify "You are offline. Try again when you have a connection." is '
                            'shown', 'Tap "OK"', 'Verify "Place: River Path" is shown'])
    _passed(outcome)
    outcome, _ = _run([*ALLOWED, 'Tap "Settings"', 'Tap "Clear cache"',
                       'Verify "12 MB of map tiles were removed." is shown', 'Tap "OK"',
                       'Verify "Version 2.3.1" is shown'])
    _passed(outcome)


def test_the_settings_toggles_keep_their_state() -> None:
    outcome, device = _run([*ALLOWED, 'Tap "Settings"', "Turn on Dark theme",
                            "Turn off Sync over Wi-Fi only", "Check the Send crash reports box",
                            "Verify Dark theme is on"])
    _passed(outcome)
    checked = {e.text: e.checked for e in device.hierarchy().elements
               if e.kind in (ElementKind.SWITCH, ElementKind.CHECKBOX)}
    assert checked == {"Sync over Wi-Fi only": False, "Notifications": False,
                       "Location tagging": True, "Auto-save drafts": True, "Dark theme": True,
                       "Send crash reports": True}


@pytest.mark.parametrize(("answer", "state", "message"), [
    ("Allow", True, None),
    ("Don't allow", False, "Notifications are blocked. You can allow them in the system "
                           "settings."),
])
def test_the_notifications_switch_asks_for_permission_first(answer: str, state: bool,
                                                            message: str | None) -> None:
    outcome, device = _run([*ALLOWED, 'Tap "Settings"', 'Tap "Notifications"',
                            'Verify "Allow Field Notes to send you notifications?" is shown',
                            f'Tap "{answer}"'])
    _passed(outcome)
    switch = next(e for e in device.hierarchy().elements if e.text == "Notifications")
    assert switch.checked is state
    assert (message in _texts(device)) if message else ("Notifications are blocked" not in
                                                        " ".join(_texts(device)))


def test_the_long_form_scrolls_and_validates() -> None:
    device = _device()
    _run([*ALLOWED, 'Tap "New note"'], device)
    screen = device.hierarchy()
    page = next(e for e in screen.elements if e.id == "page")
    assert page.kind == ElementKind.LIST and page.scrollable
    assert "Save note" not in _texts(device)  # below the fold
    box = page.bounds
    x = (box.left + box.right) // 2
    device.swipe(x, box.bottom - 100, x, box.top + 100)
    device.swipe(x, box.bottom - 100, x, box.top + 100)
    assert "Save note" in _texts(device)
    assert "Title" not in [e.hint for e in device.hierarchy().elements]  # scrolled away
    device.swipe(x, box.top + 100, x, box.bottom - 100)
    device.swipe(x, box.top + 100, x, box.bottom - 100)
    assert "Title" in [e.hint for e in device.hierarchy().elements]  # back at the top

    outcome, _ = _run([*ALLOWED, 'Tap "New note"', 'Tap "Save note"',
                       'Verify "Title is required" is shown'])
    _passed(outcome)
    outcome, _ = _run([*ALLOWED, 'Tap "New note"', 'Enter "Heron" into "Title"',
                       'Tap "Save note"', 'Verify "Observer name is required" is shown'])
    _passed(outcome)
    outcome, device = _run([*ALLOWED, 'Tap "New note"', 'Enter "Heron" into "Title"',
                            'Enter "Sam" into "Observer name"', 'Tap "Pick a date"', 'Tap "9"',
                            'Tap "OK"', 'Tap "Save note"', 'Verify "Note saved" is shown'])
    _passed(outcome)
    assert "Last saved: Heron" in _texts(device)


def test_the_date_picker_moves_between_months_and_picks_a_day() -> None:
    outcome, device = _run([*ALLOWED, 'Tap "New note"', 'Tap "Pick a date"',
                            'Verify "March 2024" is shown', 'Tap "Next month"', 'Tap "30"',
                            'Verify "Selected: April 30" is shown', 'Tap "OK"',
                            'Verify "Date: April 30, 2024" is shown'])
    _passed(outcome)
    device = _device()
    _run([*ALLOWED, 'Tap "New note"', 'Tap "Pick a date"', 'Tap "Previous month"'], device)
    days = [t for t in _texts(device) if t.isdigit()]
    assert "February 2024" in _texts(device)
    assert days == [str(d) for d in range(1, 30)]  # a leap year's February: no 30 or 31
    outcome, _ = _run([*ALLOWED, 'Tap "New note"', 'Tap "Pick a date"', 'Tap "OK"',
                       'Verify "Choose a day first" is shown'])
    _passed(outcome)


def test_the_detail_screen_hides_the_tab_bar() -> None:
    device = _device()
    _run(ALLOWED, device)
    tabs = [e.text for e in device.hierarchy().elements if e.kind == ElementKind.TAB]
    assert tabs == ["Notes", "New note", "Settings"]
    outcome, device = _run([*ALLOWED, 'Tap "Heron at the weir"'])
    assert outcome.status.value == "completed", outcome.explanation
    assert not [e for e in device.hierarchy().elements if e.kind == ElementKind.TAB]
    outcome, _ = _run([*ALLOWED, 'Tap "Heron at the weir"', "Go back", 'Tap "Settings"',
                       'Verify "Version 2.3.1" is shown'])
    _passed(outcome)


def test_a_scrolling_screen_is_validated() -> None:
    model = field_notes_model()
    model["screens"]["new_note"]["scroll"] = "yes"
    with pytest.raises(ModelError, match=r"new_note\.scroll: expected true or false"):
        load_model(model)
    model = field_notes_model()
    model["screens"]["notes"]["scroll"] = True
    with pytest.raises(ModelError, match=r"notes\.elements\[3\]: a scrolling screen cannot hold"):
        load_model(model)
