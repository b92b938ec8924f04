"""Point labels that never overlap one another, or leave their panel.

A survey panel holds some fifty points; a label on each, at a fixed offset, was a smear of
overlapping names cut off at the panel's edge. The figures label only the points that matter
(each target's front) and place those greedily: each label tries a few positions around its point
and keeps the first that stays inside the panel and clear of the labels already placed (and, if it
can, of every marker). A label with no such position is dropped; its point keeps its hover title,
and the caller lists it under the figure.

Matplotlib measures the text with the font the browser draws it in (DejaVu Sans, SVG text left as
text), so boxes that are apart here are apart on the page; a small clearance absorbs the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.transforms import Bbox

from bench.report import plots

FONT_PT = 8.0  # readable beside 9 pt tick labels
CLEARANCE_PT = 2.0
MARKER_PT = 3.5  # half a 6-7 pt marker
# (dx, dy) in points and the text's anchor: beside the point first, then above or below, then farther.
CANDIDATES = [(5, 2, "left", "bottom"), (5, -2, "left", "top"), (-5, 2, "right", "bottom"), (-5, -2, "right", "top"),
              (0, 6, "center", "bottom"), (0, -6, "center", "top"), (9, 9, "left", "bottom"),
              (9, -9, "left", "top"), (-9, 9, "right", "bottom"), (-9, -9, "right", "top")]


@dataclass
class Request:
    ax: object
    x: float
    y: float
    text: str
    data: dict = field(default_factory=dict)  # the point's names (model, target, ...), for show/hide


def place(fig, requests: list[Request], markers: list[tuple[object, float, float]] = ()) -> list[bool]:
    """Label `requests` in order of priority; `markers` (ax, x, y) are points a label should not cover.

    Call once the figure's axes, scales and legends are final: positions are measured on the
    drawn figure. Returns, per request, whether it got a label.
    """
    if not requests:
        return []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    gap, half = CLEARANCE_PT * px, MARKER_PT * px
    marks = []
    for ax, x, y in markers:
        cx, cy = ax.transData.transform((x, y))
        marks.append((ax, Bbox.from_extents(cx - half, cy - half, cx + half, cy + half)))
    placed: list[Bbox] = []
    out = []
    for req in requests:
        panel = req.ax.get_window_extent(renderer)
        ann = req.ax.annotate(plots.tex_safe(req.text), (req.x, req.y), textcoords="offset points", xytext=(0, 0),
                              fontsize=FONT_PT, color="#222222", annotation_clip=False)
        own = req.ax.transData.transform((req.x, req.y))
        box = _position(ann, renderer, panel, placed, [b for a, b in marks if a is req.ax
                                                          and not b.contains(*own)], gap)
        if box is None:
            ann.remove()
            out.append(False)
            continue
        placed.append(box)
        plots.tag([ann], **req.data)
        out.append(True)
    return out


def _position(ann, renderer, panel: Bbox, placed: list[Bbox], marks: list[Bbox], gap: float) -> Bbox | None:
    """The first candidate position inside the panel and clear of the placed labels: clear of the
    markers too where one is, else clear of labels alone."""
    fallback = None
    for dx, dy, ha, va in CANDIDATES:
        ann.set_position((dx, dy))
        ann.set_horizontalalignment(ha)
        ann.set_verticalalignment(va)
        box = ann.get_window_extent(renderer)
        inside = (box.x0 >= panel.x0 + gap and box.x1 <= panel.x1 - gap and box.y0 >= panel.y0 + gap
                  and box.y1 <= panel.y1 - gap)
        if not inside or any(box.padded(gap).overlaps(p) for p in placed):
            continue
        if not any(box.overlaps(m) for m in marks):
            return box
        if fallback is None:
            fallback = (dx, dy, ha, va, box)
    if fallback is None:
        return None
    dx, dy, ha, va, box = fallback
    ann.set_position((dx, dy))
    ann.set_horizontalalignment(ha)
    ann.set_verticalalignment(va)
    return box
