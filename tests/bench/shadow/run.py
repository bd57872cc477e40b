#!/usr/bin/env python3
"""`./dev.sh bench shadow [round-trip|fleet-search|all] [options]`: the issue 12 benchmarks.

  round-trip    1,000 devices sending shadow updates: accepted round trip p50/p99 and updates/s
                against the bare broker's publish->subscribe round trip (round_trip.py)
  fleet-search  fleet search latency on 100k devices against a plain listing (fleet_search.py)
  all           both, one after the other (the default); options are passed to both only when
                a single bench is named
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {"round-trip": HERE / "round_trip.py", "fleet-search": HERE / "fleet_search.py"}


def main() -> int:
    args = sys.argv[1:]
    which = args.pop(0) if args and not args[0].startswith("-") else "all"
    if which in ("-h", "--help") or (which != "all" and which not in BENCHES):
        print(__doc__)
        return 2 if which not in ("-h", "--help") else 0
    names = list(BENCHES) if which == "all" else [which]
    for name in names:
        print(f"== shadow bench: {name}", flush=True)
        rc = subprocess.call([sys.executable, str(BENCHES[name]), *(args if which != "all" else [])])
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
