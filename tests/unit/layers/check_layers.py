#!/usr/bin/env python3
"""DESIGN.md §2 rule 2: only the adapters include Beast, mosquitto or sqlite3. Module services and
public headers know none of them. Exits non-zero and names every offending include."""

import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3]
RULES = {
    "Beast": (re.compile(r'#\s*include\s*[<"]boost/beast'), ["src/net/http/"]),
    "mosquitto": (re.compile(r'#\s*include\s*[<"](mosquitto|mosquitto_broker|mosquitto_plugin|mqtt_protocol)\.h'),
                  ["src/net/mqtt/", "src/broker_plugin/", "src/sim/", "src/cli/"]),
    "sqlite3": (re.compile(r'#\s*include\s*[<"]sqlite3\.h'), ["src/store/sqlite/"]),
}
SOURCES = (".hpp", ".cpp", ".h", ".c", ".cc")

violations = []
checked = 0
for base in ("src", "include"):
    for path in sorted((ROOT / base).rglob("*")):
        if path.suffix not in SOURCES or not path.is_file():
            continue
        checked += 1
        rel = path.relative_to(ROOT).as_posix()
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for what, (pattern, allowed) in RULES.items():
                if pattern.search(line) and not any(rel.startswith(a) for a in allowed):
                    violations.append(f"{rel}:{lineno}: includes {what} outside {', '.join(allowed)}")
# The adapters' public headers (used by src/app) must not leak their library either.
for header in ("src/net/http/server.hpp", "src/net/mqtt/client.hpp", "src/store/sqlite/database.hpp",
               "src/store/sqlite/store.hpp", "src/store/sqlite/connection.hpp"):
    p = ROOT / header
    if p.exists():
        text = p.read_text()
        for what, (pattern, _) in RULES.items():
            if pattern.search(text):
                violations.append(f"{header}: composition-root header includes {what}")

if checked < 20:
    print(f"only {checked} source files found under {ROOT}: wrong root?", file=sys.stderr)
    sys.exit(2)
for v in violations:
    print(v, file=sys.stderr)
print(f"layer rules: {checked} files checked, {len(violations)} violations")
sys.exit(1 if violations else 0)
