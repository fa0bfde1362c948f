"""What one chart redraw costs plotext as the history grows (figures, not pass/fail).

A chart's series is the history window: at a 1 s refresh, 60 points after a minute, 3,600 after
an hour. plotext draws a line through every point it is given, so its cost grows with them; the
plot hands it the series thinned to its dot columns (``pgtop.ui.widgets.charts.thinned``).
This prints the CPU time of one plotext build of the whole series and of the thinned one, for a
chart ``--width`` columns wide (a health-bar chart at 200 columns is ~45).

    python benchmarks/chart_redraw.py [--width 45] [--height 9] [--repeat 20]
"""

from __future__ import annotations

import argparse
import math
import time

from textual_plotext.plot import Plot as Plt

from pgtop.ui.widgets.charts import thinned


def build_ms(xs: list[float], ys: list[float], width: int, height: int, repeat: int) -> float:
    plt = Plt()
    started = time.process_time()
    for _ in range(repeat):
        plt.clear_data()
        plt.plot(xs, ys, color=(76, 141, 214), marker="braille")
        plt.ylim(0.0, max(ys))
        plt.xlim(xs[0], 0.0)
        plt.xticks([])
        plt.frame(False)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # noqa: SLF001 - as textual-plotext's widget does
        plt.theme("clear")
        plt.build()
    return (time.process_time() - started) * 1000 / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=45)
    parser.add_argument("--height", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"chart {args.width}x{args.height}, braille: {2 * args.width} dot columns")  # noqa: T201
    print(f"{'points':>7} {'whole ms':>9} {'thinned':>8} {'ms':>7}")  # noqa: T201
    for count in (60, 300, 900, 3600):
        xs = [float(i - count + 1) for i in range(count)]
        ys = [1000.0 + 300.0 * math.sin(i / 37.0) + (i * 7919 % 97) for i in range(count)]
        thin_x, thin_y = thinned(xs, ys, 2 * args.width)
        whole = build_ms(xs, ys, args.width, args.height, args.repeat)
        thin = build_ms(thin_x, thin_y, args.width, args.height, args.repeat)
        print(f"{count:>7} {whole:>9.2f} {len(thin_x):>8} {thin:>7.2f}")  # noqa: T201


if __name__ == "__main__":
    main()
