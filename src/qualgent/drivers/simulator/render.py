"""Paint placed nodes into a PNG: a status bar, each element's box and text, focus highlighted.

Pillow draws with its built-in font (``ImageFont.load_default``, scalable when Pillow has
FreeType, as its wheels do) into a palette ("P") image: a screen has a few dozen flat colours,
and a palette PNG encodes about four times faster than RGB (RGB spends ~50 ms on a 1080x2400
screen in PNG filtering alone), so a typical screen renders in about 20 ms. The price is text
drawn without anti-aliasing. Glyphs and lines are rasterised once and cached.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from qualgent.drivers.base import Bounds
from qualgent.drivers.simulator.layout import STATUS_BAR_DP, Metrics, Node

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    """A theme's colours: RGB triples, or (``indexed``) their indices in the fixed palette."""

    bg: Any
    fg: Any
    muted: Any
    accent: Any
    on_accent: Any
    line: Any
    bar: Any
    error: Any
    field: Any


LIGHT_RGB = Palette(bg=(255, 255, 255), fg=(33, 33, 33), muted=(130, 130, 130),
                accent=(63, 81, 181), on_accent=(255, 255, 255), line=(210, 210, 215),
                bar=(243, 243, 247), error=(198, 40, 40), field=(250, 250, 252))
DARK_RGB = Palette(bg=(18, 18, 20), fg=(236, 236, 240), muted=(150, 150, 160),
               accent=(140, 158, 255), on_accent=(18, 18, 20), line=(70, 70, 78),
               bar=(34, 34, 40), error=(239, 130, 130), field=(30, 30, 34))
LAUNCHER_BG = (32, 56, 88)
LAUNCHER_BAR = (20, 36, 58)
WHITE = (255, 255, 255)
LAUNCHER_FG = (240, 240, 240)

# One fixed palette for every screenshot: each colour above gets an index, used as ink.
_COLOURS: list[RGB] = list(dict.fromkeys(
    [c for pal in (LIGHT_RGB, DARK_RGB) for c in vars(pal).values()]
    + [LAUNCHER_BG, LAUNCHER_BAR, WHITE, LAUNCHER_FG]))
_INDEX = {c: i for i, c in enumerate(_COLOURS)}
_FLAT_PALETTE = [v for c in _COLOURS for v in c]


def ink(colour: RGB) -> int:
    return _INDEX[colour]


LIGHT = Palette(**{k: ink(v) for k, v in vars(LIGHT_RGB).items()})
DARK = Palette(**{k: ink(v) for k, v in vars(DARK_RGB).items()})


@lru_cache(maxsize=32)
def font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def render_png(nodes: list[Node], m: Metrics, *, dark: bool = False, launcher: bool = False,
               status: str = "12:00") -> bytes:
    pal = DARK if dark else LIGHT
    img = Image.new("P", (m.width, m.height), ink(LAUNCHER_BG) if launcher else pal.bg)
    img.putpalette(_FLAT_PALETTE)
    draw = ImageDraw.Draw(img)
    bar_h = m.dp(STATUS_BAR_DP)
    draw.rectangle((0, 0, m.width, bar_h), fill=pal.bar if not launcher else ink(LAUNCHER_BAR))
    status_fg = pal.fg if not launcher else ink(LAUNCHER_FG)
    small = font(m.dp(12))
    _text(draw, Bounds(m.dp(12), 0, m.width // 2, bar_h), status, small, status_fg)
    _text(draw, Bounds(m.width // 2, 0, m.width - m.dp(12), bar_h), "5G  100%", small,
          status_fg, align="right")

    tab_bar_drawn = False
    for node in nodes:
        role, b = node.role, node.element.bounds
        if role == "list":
            _list(draw, node, [n for n in nodes if n.role == "item" and n.list_key ==
                               node.list_key], m, pal)
        elif role == "item":
            continue  # painted with their list, clipped to it
        elif role == "tab":
            if not tab_bar_drawn:
                draw.rectangle((0, b.top, m.width, m.height), fill=pal.bar)
                draw.line((0, b.top, m.width, b.top), fill=pal.line, width=max(1, m.dp(1)))
                tab_bar_drawn = True
            color = pal.accent if node.selected else pal.muted
            if node.selected:
                draw.rectangle((b.left + m.dp(24), b.top, b.right - m.dp(24),
                                b.top + m.dp(3)), fill=pal.accent)
            _text(draw, b, node.element.text or node.element.description or "",
                  font(node.font), color, align="center")
        else:
            _PAINTERS.get(role, _paint_text)(draw, node, m, pal)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


@lru_cache(maxsize=2048)
def _glyph(char: str, fnt: Any) -> tuple[Image.Image | None, int, int, float]:
    """One character: its 1-bit mask (None if blank), offset from the pen, and advance."""
    advance = fnt.getlength(char)
    left, top, right, bottom = fnt.getbbox(char)
    if right <= left or bottom <= top:
        return None, 0, 0, advance
    mask = Image.new("1", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), char, font=fnt, fill=1)
    return mask, left, top, advance


@lru_cache(maxsize=4096)
def _line(text: str, fnt: Any) -> tuple[Image.Image | None, int, int, float]:
    """A line's 1-bit mask, its offset from the pen, and its width.

    Rasterising text is most of a screenshot's cost, so lines are composed from cached
    glyphs (no kerning) and cached whole: screens repeat their texts and their characters."""
    placed, pen = [], 0.0
    for char in text:
        mask, dx, dy, advance = _glyph(char, fnt)
        if mask is not None:
            placed.append((round(pen) + dx, dy, mask))
        pen += advance
    if not placed:
        return None, 0, 0, pen
    left = min(x for x, _, _ in placed)
    top = min(y for _, y, _ in placed)
    right = max(x + mk.width for x, _, mk in placed)
    bottom = max(y + mk.height for _, y, mk in placed)
    line = Image.new("1", (right - left, bottom - top), 0)
    for x, y, mk in placed:
        line.paste(1, (x - left, y - top), mk)
    return line, left, top, pen


def _width(text: str, fnt: Any) -> float:
    return _line(text, fnt)[3]


def _text(draw: ImageDraw.ImageDraw, box: Bounds, text: str, fnt: Any, fill: int,
          align: str = "left", valign: str = "middle",
          clip: tuple[int, int] | None = None) -> None:
    """One line of text in box, truncated with an ellipsis when too wide; rows outside
    ``clip`` (top, bottom) are not drawn."""
    width = box.right - box.left
    if _width(text, fnt) > width:  # (the built-in font has no ellipsis glyph)
        while text and _width(text + "...", fnt) > width:
            text = text[:-1]
        text += "..."
    mask, dx, dy, text_width = _line(text, fnt)
    if mask is None:
        return
    size = getattr(fnt, "size", 11)
    x = box.left
    if align != "left":
        slack = width - text_width
        x += slack // 2 if align == "center" else slack
    y = (box.top + box.bottom) // 2 - size * 0.6 if valign == "middle" else box.top
    x, y = round(x + dx), round(y + dy)
    if clip is not None:
        cut_top, cut_bottom = max(0, clip[0] - y), max(0, y + mask.height - clip[1])
        if cut_top + cut_bottom >= mask.height:
            return
        if cut_top or cut_bottom:
            mask = mask.crop((0, cut_top, mask.width, mask.height - cut_bottom))
            y += cut_top
    draw.bitmap((x, y), mask, fill=fill)


def _paint_text(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    b = node.element.bounds
    fill = {"message": pal.error, "title": pal.fg}.get(node.role, pal.fg)
    fnt = font(node.font)
    line_h = round(node.font * 1.35)
    lines = node.lines or ((node.element.text or node.element.description or ""),)
    y = (b.top + b.bottom) // 2 - line_h * len(lines) // 2
    for line in lines:
        if y + line_h > b.bottom + line_h // 2:
            break
        _text(draw, Bounds(b.left, y, b.right, y + line_h), line, fnt, fill)
        y += line_h


def _paint_button(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    b = node.element.bounds
    draw.rounded_rectangle((b.left, b.top, b.right, b.bottom), radius=m.dp(8), fill=pal.accent)
    _text(draw, b, node.element.text or node.element.description or "", font(node.font),
          pal.on_accent, align="center")


def _paint_link(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    b = node.element.bounds
    text = node.element.text or node.element.description or ""
    fnt = font(node.font)
    _text(draw, b, text, fnt, pal.accent)
    y = (b.top + b.bottom) // 2 + round(node.font * 0.55)
    draw.line((b.left, y, b.left + min(b.right - b.left, _width(text, fnt)), y),
              fill=pal.accent, width=max(1, m.dp(1)))


def _paint_input(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    el = node.element
    b = el.bounds
    border, width = (pal.accent, max(2, m.dp(2))) if el.focused else (pal.line, max(1, m.dp(1)))
    draw.rounded_rectangle((b.left, b.top, b.right, b.bottom), radius=m.dp(6), fill=pal.field,
                           outline=border, width=width)
    inner = Bounds(b.left + m.dp(12), b.top, b.right - m.dp(12), b.bottom)
    fnt = font(node.font)
    secret = node.spec is not None and node.spec.secret
    if el.text and secret:  # the built-in font has no bullet glyph: draw the dots
        r, step = max(2, node.font // 5), max(6, round(node.font * 0.7))
        cy = (b.top + b.bottom) // 2
        for i in range(min(len(el.text), (inner.right - inner.left) // step)):
            cx = inner.left + r + i * step
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.fg)
    elif el.text:
        _text(draw, inner, el.text, fnt, pal.fg)
    elif el.hint:
        _text(draw, inner, el.hint, fnt, pal.muted)
    if el.focused:
        typed = (round(node.font * 0.7) * len(el.text or "") if secret
                 else round(_width(el.text or "", fnt)))
        x = inner.left + min(inner.right - inner.left, typed)
        draw.line((x + 2, b.top + m.dp(14), x + 2, b.bottom - m.dp(14)), fill=pal.accent,
                  width=max(1, m.dp(1.5)))


def _paint_toggle(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    el = node.element
    b = el.bounds
    cy = (b.top + b.bottom) // 2
    _text(draw, Bounds(b.left, b.top, b.right - m.dp(60), b.bottom), el.text or "",
          font(node.font), pal.fg)
    on = bool(el.checked)
    if node.role == "checkbox":
        s = m.dp(11)
        box = (b.right - m.dp(12) - 2 * s, cy - s, b.right - m.dp(12), cy + s)
        draw.rectangle(box, outline=pal.accent if on else pal.muted, width=max(1, m.dp(2)),
                       fill=pal.accent if on else None)
        if on:
            draw.line((box[0] + s // 2, cy, box[0] + s, cy + s // 2, box[2] - s // 3,
                       cy - s // 2), fill=pal.on_accent, width=max(1, m.dp(2)))
        return
    w, h = m.dp(44), m.dp(24)
    track = (b.right - w, cy - h // 2, b.right, cy + h // 2)
    draw.rounded_rectangle(track, radius=h // 2, fill=pal.accent if on else pal.line)
    r = h // 2 - m.dp(3)
    kx = track[2] - h // 2 if on else track[0] + h // 2
    draw.ellipse((kx - r, cy - r, kx + r, cy + r), fill=ink(WHITE))


def _paint_image(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    b = node.element.bounds
    draw.rectangle((b.left, b.top, b.right, b.bottom), fill=pal.bar, outline=pal.line)
    draw.line((b.left, b.top, b.right, b.bottom), fill=pal.line)
    draw.line((b.left, b.bottom, b.right, b.top), fill=pal.line)
    label = node.element.text or node.element.description
    if label:
        _text(draw, b, label, font(node.font), pal.muted, align="center")


def _paint_app(draw: ImageDraw.ImageDraw, node: Node, m: Metrics, pal: Palette) -> None:
    b = node.element.bounds
    size = min(b.right - b.left, b.bottom - b.top) - m.dp(36)
    x0 = (b.left + b.right - size) // 2
    y0 = b.top + m.dp(4)
    draw.rounded_rectangle((x0, y0, x0 + size, y0 + size), radius=size // 4,
                           fill=ink(WHITE))
    label = node.element.text or "?"
    _text(draw, Bounds(x0, y0, x0 + size, y0 + size), label[:1].upper(), font(size // 2),
          LIGHT.accent, align="center")
    y = y0 + size + m.dp(4)
    for line in node.lines:
        _text(draw, Bounds(b.left, y, b.right, y + round(node.font * 1.3)), line,
              font(node.font), ink(LAUNCHER_FG), align="center", valign="top")
        y += round(node.font * 1.3)


def _list(draw: ImageDraw.ImageDraw, node: Node, items: list[Node], m: Metrics,
          pal: Palette) -> None:
    """A list's visible rows, clipped to its viewport."""
    b = node.element.bounds
    pad = m.dp(12)
    for it in items:
        full = it.full or it.element.bounds
        if b.top <= full.bottom - 1 < b.bottom:
            draw.line((b.left, full.bottom - 1, b.right, full.bottom - 1), fill=pal.line,
                      width=max(1, m.dp(1)))
        row = Bounds(b.left + pad, full.top, b.right - pad, full.bottom)
        desc = it.element.description
        fnt = font(it.font)
        desc_w = round(_width(desc, fnt)) + pad if desc else 0
        clip = (b.top, b.bottom)
        _text(draw, Bounds(row.left, row.top, row.right - desc_w, row.bottom),
              it.element.text or "", fnt, pal.fg, clip=clip)
        if desc:
            _text(draw, row, desc, fnt, pal.muted, align="right", clip=clip)
    draw.rectangle((b.left, b.top, b.right - 1, b.bottom - 1), outline=pal.line,
                   width=max(1, m.dp(1)))


_PAINTERS = {
    "button": _paint_button,
    "link": _paint_link,
    "input": _paint_input,
    "switch": _paint_toggle,
    "checkbox": _paint_toggle,
    "image": _paint_image,
    "app": _paint_app,
}
