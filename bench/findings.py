"""The README's findings table, regenerated from `robustlaw reproduce NAME --json`.

For each packaged experiment (and the demo) this reads ``OUT/NAME.json``, the output of
``robustlaw reproduce NAME --scale SCALE --out OUT --json`` (``robustlaw demo`` for the
demo), and prints one markdown row per headline relation and configuration: the certified
upper bound's slope with its interval (and the exact values' where they were fitted), the
data floor's own slope over the same cells and the median upper / floor, the law's slope,
the verdict and the regime. With ``--run`` it first runs (or resumes: finished trials are
read from the store) every experiment into OUT, one at a time.

    python bench/findings.py --out ~/robustlaw-small --run     # minutes to an hour
    python bench/findings.py --out ~/robustlaw-small           # the table from the JSON
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

EXPERIMENTS = ("demo", "two-layer-law", "universal-law", "rf-ntk", "real-data")
_SHOWN = ("distribution", "dataset", "n", "d", "width", "p", "activation", "family", "depth")


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) < 0.5 * 10**-digits:
        value = 0.0
    return f"{value:.{digits}f}".replace("-", "−")


def _plain(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _slope(verdict: dict) -> str:
    if verdict.get("slope") is None:
        return "—"
    low, high = verdict["slope_ci"]
    return f"{_number(verdict['slope'])} [{_number(low)}, {_number(high)}]"


def _where(group: dict, leave_out: tuple[str, ...] = ()) -> str:
    shown = [k for k in _SHOWN if k not in leave_out and group.get(k) not in (None, "")]
    if group.get("family") != "mlp":
        shown = [k for k in shown if k != "depth"]
    return ", ".join(f"{k}={_plain(group[k])}" for k in shown)


def _sensitivity_rows(name: str, verdicts: list[dict]) -> list[str]:
    """Sensitivity slopes collapsed to one row per family: their range and verdict counts."""
    out = []
    for family in sorted({v["group"].get("family") for v in verdicts}):
        mine = [v for v in verdicts if v["group"].get("family") == family]
        slopes = sorted(v["slope"] for v in mine)
        laws = sorted({_number(v["predicted_slope"]) for v in mine})
        consistent = sum(v["verdict"] == "consistent" for v in mine)
        regimes = ", ".join(sorted({v["regime"] for v in mine}))
        where = _where(mine[0]["group"], ("n", "activation"))
        ns = sorted({_plain(v["group"].get("n")) for v in mine}, key=float)
        acts = sorted({str(v["group"].get("activation")) for v in mine})
        cells = [
            name,
            f"{where}, n ∈ {{{', '.join(ns)}}}, {', '.join(acts)}",
            "sensitivity vs p",
            f"{_number(slopes[0])} to {_number(slopes[-1])} over {len(mine)} curves (estimate)",
            "— (no floor for an estimate)",
            "—",
            " / ".join(laws),
            f"{consistent} of {len(mine)} consistent",
            regimes,
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def rows(name: str, payload: dict) -> list[str]:
    """Markdown rows of one experiment's headline verdicts."""
    groups: dict[tuple, dict[str, dict]] = {}
    for v in payload["headline"]:
        key = (v["relation"], json.dumps(v["group"], sort_keys=True))
        groups.setdefault(key, {})[v["quantity"]] = v
    out = []
    sensitivities = []
    for (relation, _), by_quantity in groups.items():
        if "sensitivity" in by_quantity:
            if by_quantity["sensitivity"]["verdict"] != "insufficient data":
                sensitivities.append(by_quantity["sensitivity"])
            continue
        main = by_quantity.get("lip_upper")
        if main is None or main["verdict"] == "insufficient data":
            continue
        measured = _slope(main)
        exact = by_quantity.get("lip_exact")
        if exact is not None and exact["verdict"] != "insufficient data":
            measured += f"; exact {_slope(exact)} ({exact['verdict']})"
        ratio = main.get("upper_over_floor")
        out.append(
            "| "
            + " | ".join(
                [
                    name,
                    _where(main["group"]),
                    relation,
                    measured,
                    _number(main.get("floor_slope")),
                    "—" if ratio is None else f"{ratio:.2f}×",
                    _number(main["predicted_slope"]),
                    main["verdict"],
                    main["regime"],
                ]
            )
            + " |"
        )
    return out + (_sensitivity_rows(name, sensitivities) if sensitivities else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="results directory")
    parser.add_argument("--scale", default="small", help="experiment scale (small)")
    parser.add_argument("--run", action="store_true", help="run or resume each experiment")
    args = parser.parse_args()
    robustlaw = Path(sys.executable).with_name("robustlaw")
    lines = [
        "| experiment | configuration | relation | measured slope [95% CI] | floor slope "
        "| upper/floor | law | verdict | regime |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in EXPERIMENTS:
        path = args.out / f"{name}.json"
        if args.run:
            if name == "demo":
                command = [str(robustlaw), "demo", "--out", str(args.out / "demo"), "--json"]
            else:
                command = [str(robustlaw), "reproduce", name, "--scale", args.scale]
                command += ["--out", str(args.out), "--json"]
            print(f"running {' '.join(command)}", file=sys.stderr)
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                sys.exit(f"{name} failed ({result.returncode}): {result.stderr[-2000:]}")
            path.write_text(result.stdout, encoding="utf-8")
        if not path.is_file():
            sys.exit(f"no {path}: run with --run, or save `robustlaw reproduce {name} --json`")
        lines.extend(rows(name, json.loads(path.read_text(encoding="utf-8"))))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
