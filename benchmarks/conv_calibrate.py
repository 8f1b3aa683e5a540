"""Calibrate the cost model behind ``cnnlab.conv.convolve(method="auto")`` on this machine.

python benchmarks/conv_calibrate.py              # writes ~/.cache/cnnlab/conv-calibration.json
python benchmarks/conv_calibrate.py --ship       # writes src/cnnlab/conv/calibration.json (developers)
"""

from __future__ import annotations

import argparse
import json

import common
from cnnlab.conv.auto import SHIPPED, user_calibration_path
from cnnlab.conv.calibrate import calibrate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ship", action="store_true", help="write the calibration shipped with cnnlab")
    args = ap.parse_args()
    result = calibrate()
    result["machine"] = common.machine()
    path = SHIPPED if args.ship else user_calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print()
    for key, stats in result["fit"].items():
        for method, s in sorted(stats.items()):
            print(
                f"{key:<16} {method:<20} points {s['points']:>3}  median rel. error {s['median_rel_error']:.2f}  max {s['max_rel_error']:.2f}"
            )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
