#!/usr/bin/env python3
"""The error catalogue (include/smartproduct/http/errors.hpp) against the sources and the OpenAPI
document. Fails, naming file and line, when
  - code that can answer an API request builds an error by literal name (`fail(ErrorKind::kX, "Name"`,
    `Response::error(ErrorKind::kX, "Name"`, `Error{ErrorKind::kX, "Name"`) whose name is not in
    the catalogue or is there with another kind (so another status);
  - src/modules/api/openapi.json's `x-error-catalogue` or the enum of components.schemas.Error.error
    differs from the catalogue.
`--write-openapi` rewrites those two parts of openapi.json from the catalogue instead of checking.
Catalogue entries are used by constant (errors::kName), which the compiler checks."""

import json
import re
import sys
from pathlib import Path

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
ROOT = Path(ARGS[0]) if ARGS else Path(__file__).resolve().parents[4]
WRITE = "--write-openapi" in sys.argv

# Where API responses come from. The CLI, the simulator, the broker plugin and startup paths build
# errors too, but those never reach an HTTP client.
SCANNED = ["src/modules", "src/net/http", "src/store/sqlite/repositories", "include/smartproduct"]
# Names built under SCANNED that never reach a client, with the reason.
NOT_API = {
    "AlreadyStarted": "HttpServer::start() called twice: a startup bug",
    "ListenError": "HttpServer startup",
    "TlsConfigError": "HttpServer startup",
    "ConfigError": "a module's configuration, refused at startup",
    "ActivationGateMismatch": "the JITR module's startup check of the broker config",
}
STATUS = {"kBadRequest": 400, "kUnauthenticated": 401, "kForbidden": 403, "kNotFound": 404,
          "kMethodNotAllowed": 405, "kConflict": 409, "kPayloadTooLarge": 413,
          "kUnsupportedMediaType": 415,
          "kUnprocessable": 422, "kRateLimited": 429, "kUnavailable": 503, "kInternal": 500}

header = (ROOT / "include/smartproduct/http/errors.hpp").read_text()
entries = re.findall(r'^\s*X\((\w+),\s*(k\w+),[\s\\]*"((?:[^"\\]|\\.)*)"\)', header, re.M)
if len(entries) < 20:
    print(f"only {len(entries)} catalogue entries parsed from errors.hpp", file=sys.stderr)
    sys.exit(2)
catalogue = {name: kind for name, kind, _ in entries}
problems = []
if len(catalogue) != len(entries):
    problems.append("errors.hpp: a name is listed twice")

literal = re.compile(r'(?:\bfail|\bossl_fail|Response::error|\bError\s*\{)\s*\(?\s*ErrorKind::(k\w+)\s*,\s*"(\w+)"')
checked = 0
for base in SCANNED:
    for path in sorted((ROOT / base).rglob("*")):
        if path.suffix not in (".cpp", ".hpp") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for m in literal.finditer(text):
            checked += 1
            kind, name = m.group(1), m.group(2)
            where = f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
            if name in NOT_API:
                continue
            if name not in catalogue:
                problems.append(f"{where}: error {name} is not in the catalogue (errors.hpp)")
            elif catalogue[name] != kind:
                problems.append(f"{where}: error {name} is {kind} here but {catalogue[name]} in the "
                                f"catalogue (one name, one status)")

openapi_path = ROOT / "src/modules/api/openapi.json"
doc = json.loads(openapi_path.read_text())
want_list = [{"name": n, "status": STATUS[k], "message": json.loads(f'"{m}"')} for n, k, m in entries]
want_enum = [n for n, _, _ in entries]
if WRITE:
    doc["x-error-catalogue"] = want_list
    doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"] = want_enum
    openapi_path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(want_list)} catalogue entries into {openapi_path}")
    sys.exit(0)
if doc.get("x-error-catalogue") != want_list:
    problems.append("openapi.json: x-error-catalogue differs from errors.hpp "
                    "(run this script with --write-openapi)")
if doc["components"]["schemas"]["Error"]["properties"]["error"].get("enum") != want_enum:
    problems.append("openapi.json: components.schemas.Error.properties.error.enum differs from errors.hpp")

for p in problems:
    print(p, file=sys.stderr)
print(f"error catalogue: {len(catalogue)} names, {checked} literal error sites checked, "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
