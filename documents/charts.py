"""Charts of the impact reports, drawn with matplotlib's object API (no pyplot state).

Each chart is a `Figure`; `svg_data_uri` embeds it in HTML and `png_bytes` in PDF,
so a report needs no file or network beside itself.
"""

from __future__ import annotations

import base64
import io

import matplotlib
from matplotlib.figure import Figure

from documents.clipping import clip_field
from documents.figures import DETERMINATIONS, CountyFigures

#: Colors per determination label: dismissed, redesignated, no relief.
COLORS = ("#2b7a4b", "#e0a030", "#5b7fb0", "#b06ab3", "#c0504d", "#9a9a9a")
POLICY_COLOR, DISMISS_ALL_COLOR = "#2f5d8a", "#b8c9dc"


def _render(figure: Figure, kind: str, dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    # A fixed hash salt and no date make the same figures give the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "clearance", "svg.fonttype": "path"}):
        metadata = {"Date": None} if kind == "svg" else {"Software": None}
        figure.savefig(buffer, format=kind, dpi=dpi, bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()


def svg_data_uri(figure: Figure) -> str:
    """Return the figure as a `data:image/svg+xml;base64,...` URI."""
    return "data:image/svg+xml;base64," + base64.b64encode(_render(figure, "svg")).decode("ascii")


def png_bytes(figure: Figure) -> bytes:
    return _render(figure, "png")


def png_data_uri(figure: Figure) -> str:
    """Return the figure as a `data:image/png;base64,...` URI."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure)).decode("ascii")


def _stacked_bars(title: str, table: dict[str, dict[str, int]], horizontal: bool) -> Figure:
    labels = list(table)
    figure = Figure(figsize=(7, max(2.2, 0.45 * len(labels) + 1.2)) if horizontal else (7, 3.2))
    axes = figure.subplots()
    bottoms = [0] * len(labels)
    for (determination, label), color in zip(DETERMINATIONS, COLORS):
        values = [table[row][determination] for row in labels]
        if horizontal:
            axes.barh(labels, values, left=bottoms, color=color, label=label)
        else:
            axes.bar(labels, values, bottom=bottoms, color=color, label=label)
        bottoms = [b + v for b, v in zip(bottoms, values)]
    if horizontal:
        axes.invert_yaxis()
        axes.set_xlabel("convictions")
    else:
        axes.set_ylabel("convictions")
    axes.set_title(title, loc="left", fontsize=11)
    axes.legend(frameon=False, fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def section_chart(figures: CountyFigures) -> Figure:
    table = {f"HS {section}": counts for section, counts in figures.by_section.items()}
    return _stacked_bars("Convictions by Prop 64 section", table, horizontal=True)


def decade_chart(figures: CountyFigures) -> Figure:
    return _stacked_bars("Convictions by decade of disposition", figures.by_decade, horizontal=False)


def relief_chart(figures: CountyFigures) -> Figure:
    """People relieved under the county policy and under *dismiss all Prop 64*."""
    labels = ["granted some relief", "no felony left", "no conviction left",
              "no conviction in 7 years"]
    policy = [figures.people_relieved, *figures.relief]
    dismiss_all = [figures.dismiss_all_people, *figures.relief_dismiss_all]
    figure = Figure(figsize=(7, 3.0))
    axes = figure.subplots()
    positions = range(len(labels))
    axes.barh([p - 0.2 for p in positions], policy, height=0.4, color=POLICY_COLOR,
              label="county policy")
    axes.barh([p + 0.2 for p in positions], dismiss_all, height=0.4, color=DISMISS_ALL_COLOR,
              label="dismiss all Prop 64")
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlabel("people")
    axes.set_title("People relieved", loc="left", fontsize=11)
    axes.legend(frameon=False, fontsize=8, loc="lower right")
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def ranking_chart(relieved: dict[str, int]) -> Figure:
    """Counties ranked by convictions relieved, most first."""
    ranked = sorted(relieved.items(), key=lambda item: (-item[1], item[0]))
    figure = Figure(figsize=(7, max(2.0, 0.22 * len(ranked) + 1.0)))
    axes = figure.subplots()
    # Bars go at numeric positions, because matplotlib would draw two counties whose
    # clipped names are equal as one category.
    positions = range(len(ranked))
    axes.barh(positions, [value for _, value in ranked], color=POLICY_COLOR)
    axes.set_yticks(positions, [clip_field(name.title(), "county_name") for name, _ in ranked])
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=8)
    axes.set_xlabel("convictions dismissed or redesignated")
    axes.set_title("Counties ranked by convictions relieved", loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    return figure
