"""A map of California's counties shaded by convictions relieved.

The county shapes are the US Census Bureau's 2016 cartographic boundaries
(`cb_2016_us_county_500k`), which the `plotly-geo` package ships; `pyshp` reads
them. Without either package the statewide report shows the ranked chart alone.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

CALIFORNIA_STATE_CODE = "06"
SHAPE_NAME = "cb_2016_us_county_500k"
ABSENT_COLOR = "#eeeeee"


@functools.lru_cache(maxsize=1)
def california_shapes() -> dict[str, list[list[tuple[float, float]]]] | None:
    """Return each county's polygons (lists of longitude, latitude points) by upper-case
    name, or None when the shapes cannot be had."""
    try:
        import _plotly_geo
        import shapefile
    except ImportError:
        logger.info("plotly-geo or pyshp is not installed; the statewide report has no map")
        return None
    path = Path(_plotly_geo.__file__).with_name("package_data") / SHAPE_NAME
    shapes: dict[str, list[list[tuple[float, float]]]] = {}
    with shapefile.Reader(str(path)) as reader:
        for number, record in enumerate(reader.iterRecords(fields=["STATEFP", "NAME"])):
            if record["STATEFP"] != CALIFORNIA_STATE_CODE:
                continue
            shape = reader.shape(number)
            bounds = list(shape.parts) + [len(shape.points)]
            shapes[record["NAME"].upper()] = [
                [tuple(point) for point in shape.points[start:end]]
                for start, end in zip(bounds, bounds[1:])]
    return shapes


def county_map(relieved: dict[str, int]) -> Figure | None:
    """Draw the counties shaded by `relieved` (by upper-case county name); counties
    not in it are grey. Returns None when the shapes are not available."""
    shapes = california_shapes()
    if shapes is None:
        return None
    highest = max(relieved.values(), default=0) or 1
    normalize = Normalize(vmin=0, vmax=highest)
    # The palest blues are cut off, so that a county with none relieved still
    # differs from the grey of counties not in the run.
    colormap = ListedColormap(colormaps["Blues"](np.linspace(0.15, 1.0, 256)))
    polygons, colors = [], []
    for name, parts in sorted(shapes.items()):
        color = colormap(normalize(relieved[name])) if name in relieved else ABSENT_COLOR
        for part in parts:
            polygons.append(part)
            colors.append(color)

    figure = Figure(figsize=(5.5, 6.2))
    axes = figure.subplots()
    axes.add_collection(PolyCollection(polygons, facecolors=colors, edgecolors="white",
                                       linewidths=0.4))
    axes.set_xlim(-124.6, -114.0)
    axes.set_ylim(32.4, 42.1)
    # Degrees of longitude shrink with latitude; this keeps the state's proportions.
    axes.set_aspect(1 / math.cos(math.radians(37.2)))
    axes.set_axis_off()
    axes.set_title("Convictions relieved by county (grey: not in this run)", loc="left", fontsize=11)
    scale = figure.colorbar(ScalarMappable(norm=normalize, cmap=colormap), ax=axes, shrink=0.6,
                            pad=0.02)
    scale.set_label("convictions relieved")
    return figure
