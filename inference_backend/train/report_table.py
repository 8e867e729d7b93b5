"""Results table laid out like the STR paper's Table 1 (rows: methods; columns per dataset)."""

from __future__ import annotations

import math

#: (dataset, metric) columns in the paper's order.
COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("3dpw", ("pa_mpjpe", "mpjpe", "mpvpe", "accel_err")),
    ("mpii3d", ("pa_mpjpe", "mpjpe", "accel_err")),
    ("h36m", ("pa_mpjpe", "mpjpe", "accel_err")),
)
DATASET_TITLES = {"3dpw": "3DPW", "mpii3d": "MPI-INF-3DHP", "h36m": "Human3.6M"}
METRIC_TITLES = {"pa_mpjpe": "PA-MPJPE", "mpjpe": "MPJPE", "mpvpe": "MPVPE", "accel_err": "Accel"}

#: STR paper, Table 1 (trained with 3DPW). mm; Accel mm/frame^2.
PAPER_STR: dict[str, dict[str, float]] = {
    "3dpw": {"pa_mpjpe": 52.4, "mpjpe": 85.2, "mpvpe": 101.2, "accel_err": 6.9},
    "mpii3d": {"pa_mpjpe": 63.1, "mpjpe": 96.3, "accel_err": 8.6},
    "h36m": {"pa_mpjpe": 51.9, "mpjpe": 73.3, "accel_err": 3.6},
}


def _cell(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1f}"


def format_table(rows: list[tuple[str, dict[str, dict[str, float]]]]) -> str:
    """rows: (method name, {dataset: {metric: value}}). Missing values print as '-'."""
    name_w = max(24, *(len(n) for n, _ in rows))
    head1 = " " * name_w
    head2 = "Method".ljust(name_w)
    for ds, metrics in COLUMNS:
        width = 10 * len(metrics)
        head1 += " | " + DATASET_TITLES[ds].center(width)
        head2 += " | " + "".join(METRIC_TITLES[m].rjust(10) for m in metrics)
    lines = [head1, head2, "-" * len(head2)]
    for name, values in rows:
        line = name.ljust(name_w)
        for ds, metrics in COLUMNS:
            line += " | " + "".join(_cell(values.get(ds, {}).get(m)).rjust(10) for m in metrics)
        lines.append(line)
    return "\n".join(lines)
