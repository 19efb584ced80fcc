"""Series colours and markers for every plot: the Okabe-Ito palette (distinguishable with the
common colour-vision deficiencies), each colour darkened or lightened until it stands out from
the plot's background by 3:1, so a light theme gets the same hues at a readable lightness."""

from __future__ import annotations

from rich.text import Text

RGB = tuple[int, int, int]

# Okabe & Ito (2008), "Color Universal Design"; black left out (it is a background or the text)
OKABE_ITO: list[RGB] = [
    (0, 114, 178),    # blue
    (230, 159, 0),    # orange
    (0, 158, 115),    # bluish green
    (213, 94, 0),     # vermillion
    (204, 121, 167),  # reddish purple
    (86, 180, 233),   # sky blue
    (240, 228, 66),   # yellow
]
# One glyph per series where several share a plot (sweep variants, compared runs): with 7
# colours and 8 markers, no two of the first 56 series look alike even without colour.
MARKERS = ["•", "+", "x", "o", "*", "▪", "▴", "◆"]
# The live view's fixed roles
ROLES = {"train": 0, "validation": 1, "mean": 2, "best": 3, "notice": 4}

CONTRAST = 3.0  # WCAG's least for graphics and large text


def luminance(rgb: RGB) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable(rgb: RGB, background: RGB, ratio: float = CONTRAST) -> RGB:
    """The colour, moved towards black on a light background (white on a dark one) in small
    steps until it has `ratio` contrast with it; the hue is kept."""
    toward = 0 if luminance(background) > 0.18 else 255
    colour = rgb
    for step in range(1, 21):
        if contrast(colour, background) >= ratio:
            return colour
        mix = step / 20
        colour = tuple(round(c + (toward - c) * mix) for c in rgb)  # type: ignore[assignment]
    return colour


def series_colour(index: int, background: RGB) -> RGB:
    return readable(OKABE_ITO[index % len(OKABE_ITO)], background)


def role_colour(role: str, background: RGB) -> RGB:
    return series_colour(ROLES[role], background)


def series_marker(index: int) -> str:
    return MARKERS[index % len(MARKERS)]


def legend(entries: list[tuple[str, RGB, str]], width: int = 0) -> Text:
    """A legend row: each entry's glyph in its colour, its words in the theme's text colour
    (readable whatever the hue); entries that do not fit in `width` go to the next line whole
    (an entry is never split)."""
    width = max(width, 0)
    pieces = [f"{glyph} {label}" for glyph, _rgb, label in entries]
    gap = "   " if not width or sum(map(len, pieces)) + 3 * (len(pieces) - 1) <= width else "  "
    text = Text(no_wrap=False, overflow="fold")  # a name wider than the row still shows whole
    used = 0
    for piece, (glyph, rgb, label) in zip(pieces, entries, strict=True):
        if used and width and used + len(gap) + len(piece) > width:
            text.append("\n")
            used = 0
        elif used:
            text.append(gap)
            used += len(gap)
        text.append(glyph, style=f"bold rgb({rgb[0]},{rgb[1]},{rgb[2]})")
        text.append(f" {label}")
        used += len(piece)
    return text
