"""Element kinds are one enum: drivers report them, the agent matches on them, recordings keep
them as plain strings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from qualgent.agent.matching import selector_of
from qualgent.builds.demo import write_demo_build
from qualgent.drivers.base import Bounds, Element, ElementKind
from qualgent.drivers.simulator import (
    SIMULATED_FLEET,
    ModelError,
    SimulatedDevice,
    demo_shop_model,
    load_model,
)


def test_a_kind_given_as_a_string_becomes_its_enum_member() -> None:
    el = Element("list_item", Bounds(0, 0, 10, 10), text="Product 01")
    assert el.kind is ElementKind.LIST_ITEM
    assert el == Element(ElementKind.LIST_ITEM, Bounds(0, 0, 10, 10), text="Product 01")


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'buton' is not a valid ElementKind"):
        Element("buton", Bounds(0, 0, 10, 10))


def test_the_simulator_reports_enum_kinds_and_selectors_serialise_as_plain_strings(
        tmp_path: Path) -> None:
    apk = tmp_path / "demo.apk"
    write_demo_build(apk)
    device = SimulatedDevice(SIMULATED_FLEET[0])
    device.launch(device.install(apk).package)
    elements = device.hierarchy().elements
    assert elements and all(type(e.kind) is ElementKind for e in elements)
    sign_in = next(e for e in elements if e.text == "Sign in" and e.kind == "button")
    assert json.dumps(selector_of(sign_in)) == '{"text": "Sign in", "kind": "button"}'


@pytest.mark.parametrize("kind", [["input"], {"kind": "input"}, 3, None])
def test_a_model_whose_kind_is_not_a_string_is_a_model_error(kind: object) -> None:
    model = copy.deepcopy(demo_shop_model())
    model["screens"]["sign_in"]["elements"][1]["kind"] = kind
    with pytest.raises(ModelError, match=r"screens\.sign_in\.elements\[1\]\.kind: expected one"):
        load_model(model)
