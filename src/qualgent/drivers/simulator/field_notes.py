"""Field Notes (com.qualgent.fieldnotes): a second built-in app with other idioms than the Demo
Shop's, as pure app-model data; the agent corpus (benchmarks/agent_corpus) runs on both.

Welcome ("Get started") -> a location permission prompt ("Allow" / "Don't allow") -> Notes (a
search field, 30 notes, tabs Notes / New note / Settings) -> a note's detail screen (no tab
bar: "Share" opens an alert, "Delete note" a confirm dialog) ; New note: a long form that
scrolls (eleven fields, a date picked on a month grid, "Save note" at the bottom with
validation messages, "Discard" behind a confirm dialog) ; Settings: six toggles, one of which
("Notifications") asks for permission first, "Clear cache" (an alert) and "Sign out" (a confirm
dialog). Tests and the corpus rely on these exact texts.
"""

from __future__ import annotations

import copy
from typing import Any

from qualgent.drivers.simulator.model import FORMAT

PACKAGE = "com.qualgent.fieldnotes"
LABEL = "Field Notes"

NOTES: list[tuple[str, str, str]] = [  # title, place, date
    ("Heron at the weir", "Mill Pond", "Mar 2"),
    ("Frogspawn in the ditch", "Low Meadow", "Mar 3"),
    ("First swallow", "Church Farm", "Mar 5"),
    ("Badger sett survey", "Oak Wood", "Mar 6"),
    ("Kingfisher sighting", "River Path", "Mar 8"),
    ("Bluebells starting", "Oak Wood", "Mar 9"),
    ("Red kite over the ridge", "Beacon Hill", "Mar 11"),
    ("Otter spraint", "River Path", "Mar 12"),
    ("Dawn chorus count", "Church Farm", "Mar 14"),
    ("Newts in the pond", "Mill Pond", "Mar 15"),
    ("Hare boxing", "Low Meadow", "Mar 16"),
    ("Cowslips on the bank", "Beacon Hill", "Mar 18"),
    ("Moth trap results", "Garden", "Mar 19"),
    ("Bat detector walk", "Oak Wood", "Mar 20"),
    ("Skylark territory", "Low Meadow", "Mar 21"),
    ("Orange tip butterfly", "Garden", "Mar 23"),
    ("Grass snake basking", "Mill Pond", "Mar 24"),
    ("Wood anemones", "Oak Wood", "Mar 25"),
    ("Buzzard pair nesting", "Beacon Hill", "Mar 26"),
    ("Tawny owl calling", "Church Farm", "Mar 27"),
    ("Damselflies emerging", "Mill Pond", "Mar 28"),
    ("Roe deer at dusk", "Low Meadow", "Mar 29"),
    ("Cuckoo heard", "River Path", "Mar 30"),
    ("Early purple orchid", "Beacon Hill", "Apr 1"),
    ("Swift arrival", "Church Farm", "Apr 2"),
    ("Dipper feeding young", "River Path", "Apr 3"),
    ("Glow-worm survey", "Beacon Hill", "Apr 4"),
    ("Hedgehog on camera", "Garden", "Apr 5"),
    ("Water vole burrows", "River Path", "Apr 6"),
    ("Nightjar churring", "Oak Wood", "Apr 7"),
]
_BODY = "Seen from the footpath in the morning; light wind, dry."

MONTHS: list[tuple[str, int]] = [
    ("January", 31), ("February", 29), ("March", 31), ("April", 30), ("May", 31), ("June", 30),
    ("July", 31), ("August", 31), ("September", 30), ("October", 31), ("November", 30),
    ("December", 31),
]
YEAR = 2024
START_MONTH = "March"

_TABS = [
    {"kind": "tab", "id": "tab_notes", "text": "Notes", "on_tap": [{"go": "notes"}]},
    {"kind": "tab", "id": "tab_new", "text": "New note", "on_tap": [{"go": "new_note"}]},
    {"kind": "tab", "id": "tab_settings", "text": "Settings", "on_tap": [{"go": "settings"}]},
]


def _month_step(delta: int) -> list[dict[str, Any]]:
    """Previous / next month: one branch per month (the model has no arithmetic)."""
    out: list[dict[str, Any]] = []
    for i, (name, _) in enumerate(MONTHS):
        j = (i + delta) % len(MONTHS)
        out.append({"if": {"eq": ["{state.month}", name]},
                    "then": [{"set": {"month": MONTHS[j][0], "month_days": MONTHS[j][1],
                                      "picked": ""}}]})
    # chain them so that only the first match runs
    chain: list[dict[str, Any]] = []
    for branch in reversed(out):
        branch = dict(branch)
        if chain:
            branch["else"] = chain
        chain = [branch]
    return chain


def _day_grid() -> list[dict[str, Any]]:
    """Days 1-31 as rows of seven buttons; 29, 30 and 31 only in months that have them."""
    rows = []
    for first in range(1, 32, 7):
        cells = []
        for day in range(first, min(first + 7, 32)):
            cell: dict[str, Any] = {
                "kind": "button", "id": f"day_{day}", "text": str(day),
                "description": f"{{state.month}} {day}, {YEAR}",
                "on_tap": [{"set": {"picked": str(day)}}]}
            if day > 28:
                cell["visible"] = {"not": {"any": [{"eq": ["{state.month_days}", str(n)]}
                                                   for n in range(28, day)]}}
            cells.append(cell)
        rows.append({"kind": "row", "elements": cells})
    return rows


def _field(id_: str, hint: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "input", "id": id_, "hint": hint, **extra}


_SAVE = [{
    "if": {"eq": ["{input.title}", ""]},
    "then": [{"show": "Title is required"}],
    "else": [{
        "if": {"eq": ["{input.observer}", ""]},
        "then": [{"show": "Observer name is required"}],
        "else": [{
            "if": {"eq": ["{state.date}", ""]},
            "then": [{"show": "Pick a date for the note"}],
            "else": [{"set": {"last_saved": "{input.title}", "date": "", "picked": ""}},
                     {"go": "notes", "reset": True}, {"show": "Note saved"}],
        }],
    }],
}]

_MODEL: dict[str, Any] = {
    "format": FORMAT,
    "package": PACKAGE,
    "label": LABEL,
    "start": "welcome",
    "state": {"location": False, "asked_location": False, "notifications": False,
              "wifi_only": True, "auto_save": True, "dark_mode": False, "share_team": False,
              "crash_reports": False, "last_saved": "", "date": "", "picked": "",
              "month": START_MONTH, "month_days": 31},
    "dark_mode": "dark_mode",
    "data": {"notes": [{"title": t, "place": p, "date": d} for t, p, d in NOTES]},
    "screens": {
        "welcome": {
            "title": "Field Notes",
            "elements": [
                {"kind": "text", "id": "tagline", "text": "Keep notes from the field, "
                                                          "with the place and the date."},
                {"kind": "button", "id": "get_started", "text": "Get started",
                 "on_tap": [{"if": {"empty": "state.asked_location"},
                             "then": [{"go": "location_prompt"}],
                             "else": [{"go": "notes", "reset": True}]}]},
            ],
        },
        "location_prompt": {
            "elements": [
                {"kind": "text", "id": "permission_message",
                 "text": "Allow Field Notes to access this device's location?"},
                {"kind": "text", "text": "Notes are tagged with the place you write them."},
                {"kind": "button", "id": "permission_allow", "text": "Allow", "on_tap": [
                    {"set": {"location": True, "asked_location": True}},
                    {"go": "notes", "reset": True}]},
                {"kind": "button", "id": "permission_deny", "text": "Don't allow", "on_tap": [
                    {"set": {"location": False, "asked_location": True}},
                    {"go": "notes", "reset": True}]},
            ],
        },
        "notes": {
            "title": "Notes",
            "elements": [
                {"kind": "text", "id": "location_off", "visible": {"empty": "state.location"},
                 "text": "Location is off: new notes will not be tagged with a place."},
                {"kind": "text", "id": "last_saved", "visible": {"ne": ["{state.last_saved}",
                                                                        ""]},
                 "text": "Last saved: {state.last_saved}"},
                {"kind": "search", "id": "search", "hint": "Search notes"},
                {"kind": "list", "id": "notes", "source": "data.notes",
                 "item_text": "{item.title}", "item_description": "{item.date}",
                 "filter": "{input.search}", "empty_text": "No notes found",
                 "on_item_tap": [{"go": "note"}]},
            ],
            "tabs": _TABS,
        },
        "note": {
            "title": "{item.title}",
            "elements": [
                {"kind": "text", "id": "place", "text": "Place: {item.place}"},
                {"kind": "text", "id": "date", "text": "Date: {item.date}, 2024"},
                {"kind": "text", "id": "body", "text": _BODY},
                {"kind": "button", "id": "share", "text": "Share",
                 "on_tap": [{"go": "share_alert"}]},
                {"kind": "button", "id": "delete", "text": "Delete note",
                 "on_tap": [{"go": "delete_dialog"}]},
            ],
        },
        "share_alert": {
            "title": "Sharing unavailable",
            "elements": [
                {"kind": "text", "id": "alert_message",
                 "text": "You are offline. Try again when you have a connection."},
                {"kind": "button", "id": "alert_ok", "text": "OK", "on_tap": [{"back": True}]},
            ],
        },
        "delete_dialog": {
            "title": "Delete this note?",
            "elements": [
                {"kind": "text", "id": "dialog_message", "text": "This cannot be undone."},
                {"kind": "row", "elements": [
                    {"kind": "button", "id": "dialog_cancel", "text": "Cancel",
                     "on_tap": [{"back": True}]},
                    {"kind": "button", "id": "dialog_delete", "text": "Delete",
                     "on_tap": [{"go": "notes", "reset": True}, {"show": "Note deleted"}]},
                ]},
            ],
        },
        "new_note": {
            "title": "New note",
            "scroll": True,
            "elements": [
                _field("title", "Title"),
                _field("observer", "Observer name"),
                _field("place", "Place"),
                _field("email", "Email"),
                _field("phone", "Phone"),
                _field("temperature", "Temperature (°C)"),
                _field("wind", "Wind speed (km/h)"),
                _field("weather", "Weather"),
                _field("species", "Number of species"),
                _field("habitat", "Habitat"),
                _field("notes", "Notes"),
                {"kind": "text", "id": "date_label", "text": "Date: {state.date}",
                 "visible": {"ne": ["{state.date}", ""]}},
                {"kind": "button", "id": "pick_date", "text": "Pick a date",
                 "on_tap": [{"go": "date_picker"}]},
                {"kind": "checkbox", "id": "share_team", "text": "Share with my team",
                 "bind": "share_team"},
                {"kind": "button", "id": "save", "text": "Save note", "on_tap": _SAVE},
                {"kind": "button", "id": "discard", "text": "Discard",
                 "on_tap": [{"go": "discard_dialog"}]},
            ],
            "tabs": _TABS,
        },
        "discard_dialog": {
            "title": "Discard this note?",
            "elements": [
                {"kind": "text", "id": "dialog_message",
                 "text": "What you wrote will be lost."},
                {"kind": "row", "elements": [
                    {"kind": "button", "id": "dialog_keep", "text": "Keep editing",
                     "on_tap": [{"back": True}]},
                    {"kind": "button", "id": "dialog_discard", "text": "Discard",
                     "on_tap": [{"set": {"date": "", "picked": ""}},
                                {"go": "notes", "reset": True}]},
                ]},
            ],
        },
        "date_picker": {
            "title": "Pick a date",
            "elements": [
                {"kind": "row", "elements": [
                    {"kind": "image", "id": "previous_month", "description": "Previous month",
                     "text": "<", "on_tap": _month_step(-1)},
                    {"kind": "text", "id": "month", "text": f"{{state.month}} {YEAR}",
                     "weight": 4},
                    {"kind": "image", "id": "next_month", "description": "Next month",
                     "text": ">", "on_tap": _month_step(1)},
                ]},
                *_day_grid(),
                {"kind": "text", "id": "selected", "visible": {"ne": ["{state.picked}", ""]},
                 "text": "Selected: {state.month} {state.picked}"},
                {"kind": "row", "elements": [
                    {"kind": "button", "id": "picker_cancel", "text": "Cancel",
                     "on_tap": [{"back": True}]},
                    {"kind": "button", "id": "picker_ok", "text": "OK", "on_tap": [{
                        "if": {"eq": ["{state.picked}", ""]},
                        "then": [{"show": "Choose a day first"}],
                        "else": [{"set": {"date": f"{{state.month}} {{state.picked}}, {YEAR}"}},
                                 {"back": True}]}]},
                ]},
            ],
        },
        "settings": {
            "title": "Settings",
            "elements": [
                {"kind": "switch", "id": "wifi_only", "text": "Sync over Wi-Fi only",
                 "bind": "wifi_only"},
                {"kind": "switch", "id": "notifications", "text": "Notifications",
                 "bind": "notifications", "on_tap": [
                     {"if": {"eq": ["{state.notifications}", "true"]},
                      "then": [{"set": {"notifications": False}},
                               {"go": "notifications_prompt"}]}]},
                {"kind": "switch", "id": "location", "text": "Location tagging",
                 "bind": "location"},
                {"kind": "switch", "id": "auto_save", "text": "Auto-save drafts",
                 "bind": "auto_save"},
                {"kind": "switch", "id": "dark_mode", "text": "Dark theme", "bind": "dark_mode"},
                {"kind": "checkbox", "id": "crash_reports", "text": "Send crash reports",
                 "bind": "crash_reports"},
                {"kind": "text", "id": "version", "text": "Version 2.3.1"},
                {"kind": "row", "elements": [
                    {"kind": "button", "id": "clear_cache", "text": "Clear cache",
                     "on_tap": [{"go": "cache_alert"}]},
                    {"kind": "button", "id": "sign_out", "text": "Sign out",
                     "on_tap": [{"go": "sign_out_dialog"}]},
                ]},
            ],
            "tabs": _TABS,
        },
        "notifications_prompt": {
            "elements": [
                {"kind": "text", "id": "permission_message",
                 "text": "Allow Field Notes to send you notifications?"},
                {"kind": "button", "id": "permission_allow", "text": "Allow", "on_tap": [
                    {"set": {"notifications": True}}, {"back": True}]},
                {"kind": "button", "id": "permission_deny", "text": "Don't allow", "on_tap": [
                    {"set": {"notifications": False}}, {"back": True},
                    {"show": "Notifications are blocked. You can allow them in the system "
                             "settings."}]},
            ],
        },
        "cache_alert": {
            "title": "Cache cleared",
            "elements": [
                {"kind": "text", "id": "alert_message", "text": "12 MB of map tiles were "
                                                                "removed."},
                {"kind": "button", "id": "alert_ok", "text": "OK", "on_tap": [{"back": True}]},
            ],
        },
        "sign_out_dialog": {
            "title": "Sign out?",
            "elements": [
                {"kind": "text", "id": "dialog_message",
                 "text": "Notes not yet synced will stay on this device."},
                {"kind": "row", "elements": [
                    {"kind": "button", "id": "dialog_cancel", "text": "Cancel",
                     "on_tap": [{"back": True}]},
                    {"kind": "button", "id": "dialog_sign_out", "text": "Sign out",
                     "on_tap": [{"go": "welcome", "reset": True}]},
                ]},
            ],
        },
    },
}


def field_notes_model() -> dict[str, Any]:
    """A fresh copy of the Field Notes app model (a JSON-serialisable dict)."""
    return copy.deepcopy(_MODEL)
