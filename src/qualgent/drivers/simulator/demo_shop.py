"""Demo Shop (com.qualgent.demo): the built-in demo app, as pure app-model data.

Sign in (demo@example.com / hunter2) -> "Verify your phone" (a 6-digit code texted to the
device when its profile has SMS) -> Home (search, 40 products, tabs Home / Cart / Profile) ->
a product (price, "Add to cart") -> Cart ("Checkout" -> "Order confirmed") -> Profile ("Dark
mode" switch, "Sign out", "Crash app"). Tests and demos rely on these exact texts.
"""

from __future__ import annotations

import copy
from typing import Any

from qualgent.drivers.simulator.model import FORMAT

PACKAGE = "com.qualgent.demo"
LABEL = "Demo Shop"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "hunter2"

PRODUCTS: list[tuple[str, str]] = [
    ("Wireless Headphones X200", "$59.99"),
    ("Bluetooth Speaker Mini", "$29.99"),
    ("Smart Watch Series 5", "$199.00"),
    ("USB-C Charging Cable", "$9.99"),
    ("Aluminum Laptop Stand", "$39.95"),
    ("Mechanical Keyboard K70", "$89.00"),
    ("Ergonomic Mouse M3", "$34.50"),
    ("Noise Cancelling Earbuds", "$129.99"),
    ("Portable Power Bank 20000", "$45.00"),
    ("4K Action Camera", "$149.00"),
    ("Fitness Tracker Band", "$49.99"),
    ("Wireless Charging Pad", "$24.99"),
    ("Gaming Headset Pro", "$79.99"),
    ("LED Desk Lamp", "$27.50"),
    ("Burr Coffee Grinder", "$64.00"),
    ("French Press 1L", "$22.99"),
    ("Stainless Water Bottle", "$18.00"),
    ("Premium Yoga Mat", "$32.00"),
    ("Aero Running Shoes", "$95.00"),
    ("Commuter Backpack 25L", "$69.00"),
    ("Polarized Sunglasses", "$54.00"),
    ("Slim Leather Wallet", "$38.00"),
    ("Memory Foam Travel Pillow", "$19.99"),
    ("Electric Toothbrush S2", "$59.00"),
    ("Compact Hair Dryer", "$44.99"),
    ("Cast Iron Skillet 12in", "$36.50"),
    ("Chef Knife 8in", "$74.00"),
    ("Bamboo Cutting Board", "$21.00"),
    ("Scented Candle Set", "$26.00"),
    ("Knit Throw Blanket", "$42.00"),
    ("Ceramic Plant Pot", "$15.99"),
    ("Classic Board Games Set", "$29.00"),
    ("Jigsaw Puzzle 1000 Pieces", "$17.50"),
    ("A4 Sketchbook", "$12.00"),
    ("Watercolor Paint Set", "$23.99"),
    ("Acoustic Guitar Strings", "$11.49"),
    ("Camping Lantern", "$31.00"),
    ("XL Picnic Blanket", "$28.00"),
    ("Tea Sampler Box", "$24.00"),
    ("Zen Garden Kit", "$34.99"),
]

_TABS = [
    {"kind": "tab", "id": "tab_home", "text": "Home", "on_tap": [{"go": "home"}]},
    {"kind": "tab", "id": "tab_cart", "text": "Cart", "on_tap": [{"go": "cart"}]},
    {"kind": "tab", "id": "tab_profile", "text": "Profile", "on_tap": [{"go": "profile"}]},
]

_SIGN_IN = [{
    "if": {"all": [{"eq": ["{input.email}", DEMO_EMAIL]},
                   {"eq": ["{input.password}", DEMO_PASSWORD]}]},
    "then": [{"set": {"email": "{input.email}"}}, {"go": "verify"}],
    "else": [{"show": "Invalid email or password"}],
}]

_SEND_CODE = [
    {"random_code": "otp", "digits": 6},
    {"sms": "Your Demo Shop code is {state.otp}", "sender": "DemoShop"},
]

_VERIFY = [{
    "if": {"all": [{"eq": ["{input.code}", "{state.otp}"]}, {"ne": ["{input.code}", ""]}]},
    "then": [{"go": "home", "reset": True}],
    "else": [{"show": "Incorrect code"}],
}]

_SEARCH = [{"set": {"query": "{input.search}"}}]

_MODEL: dict[str, Any] = {
    "format": FORMAT,
    "package": PACKAGE,
    "label": LABEL,
    "start": "sign_in",
    "state": {"email": "", "otp": "", "query": "", "cart": [], "dark_mode": False},
    "dark_mode": "dark_mode",
    "data": {"products": [{"name": name, "price": price} for name, price in PRODUCTS]},
    "screens": {
        "sign_in": {
            "title": "Sign in",
            "elements": [
                {"kind": "input", "id": "email", "hint": "Email"},
                {"kind": "input", "id": "password", "hint": "Password", "secret": True,
                 "on_submit": _SIGN_IN},
                {"kind": "button", "id": "sign_in", "text": "Sign in", "on_tap": _SIGN_IN},
                {"kind": "link", "id": "forgot_password", "text": "Forgot password?",
                 "on_tap": [{"go": "forgot_password"}]},
            ],
        },
        "forgot_password": {
            "title": "Reset password",
            "elements": [
                {"kind": "text", "text": "Enter your email and we will send you a reset link."},
                {"kind": "input", "id": "reset_email", "hint": "Email"},
                {"kind": "button", "id": "send_reset_link", "text": "Send reset link",
                 "on_tap": [{"if": {"eq": ["{input.reset_email}", ""]},
                             "then": [{"show": "Enter your email"}],
                             "else": [{"show": "If {input.reset_email} has an account, a "
                                               "reset link is on its way"}]}]},
            ],
        },
        "verify": {
            "title": "Verify your phone",
            "on_enter": _SEND_CODE,
            "elements": [
                {"kind": "text", "text": "Enter the 6-digit code we texted to your phone."},
                {"kind": "input", "id": "code", "hint": "Code", "on_submit": _VERIFY},
                {"kind": "button", "id": "verify", "text": "Verify", "on_tap": _VERIFY},
                {"kind": "link", "id": "resend_code", "text": "Resend code",
                 "on_tap": [*_SEND_CODE, {"show": "We sent you a new code"}]},
            ],
        },
        "home": {
            "title": "Home",
            "elements": [
                {"kind": "row", "elements": [
                    {"kind": "input", "id": "search", "hint": "Search products", "weight": 3,
                     "on_submit": _SEARCH},
                    {"kind": "button", "id": "search_button", "text": "Search",
                     "description": "Search", "on_tap": _SEARCH},
                ]},
                {"kind": "list", "id": "products", "source": "data.products",
                 "item_text": "{item.name}", "item_description": "{item.price}",
                 "filter": "{state.query}", "empty_text": "No products match your search",
                 "on_item_tap": [{"go": "product"}]},
            ],
            "tabs": _TABS,
        },
        "product": {
            "title": "{item.name}",
            "elements": [
                {"kind": "image", "id": "product_image", "description": "{item.name}"},
                {"kind": "text", "id": "price", "text": "{item.price}"},
                {"kind": "button", "id": "add_to_cart", "text": "Add to cart",
                 "on_tap": [{"add": "cart"}, {"show": "Added to cart"}]},
            ],
        },
        "cart": {
            "title": "Cart",
            "elements": [
                {"kind": "list", "id": "cart_items", "source": "state.cart",
                 "item_text": "{item.name}", "item_description": "{item.price}",
                 "empty_text": "Your cart is empty", "on_item_tap": [{"go": "product"}]},
                {"kind": "button", "id": "checkout", "text": "Checkout", "on_tap": [{
                    "if": {"empty": "state.cart"},
                    "then": [{"show": "Add something to your cart first"}],
                    "else": [{"set": {"cart": []}}, {"show": "Order confirmed"}],
                }]},
            ],
            "tabs": _TABS,
        },
        "profile": {
            "title": "Profile",
            "elements": [
                {"kind": "text", "id": "signed_in_as", "text": "Signed in as {state.email}"},
                {"kind": "switch", "id": "dark_mode", "text": "Dark mode", "bind": "dark_mode"},
                {"kind": "button", "id": "sign_out", "text": "Sign out", "on_tap": [
                    {"set": {"email": "", "query": "", "cart": []}},
                    {"go": "sign_in", "reset": True},
                ]},
                {"kind": "button", "id": "crash_app", "text": "Crash app", "on_tap": [
                    {"crash": "java.lang.IllegalStateException: Crash app was tapped"},
                ]},
            ],
            "tabs": _TABS,
        },
    },
}


def demo_shop_model() -> dict[str, Any]:
    """A fresh copy of the Demo Shop app model (a JSON-serialisable dict)."""
    return copy.deepcopy(_MODEL)
