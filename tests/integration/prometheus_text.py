"""A strict reader of the Prometheus text format (0.0.4), the same rules as the C++ checker of the
renderer's unit test (tests/unit/app/exposition_check.hpp): names match [a-zA-Z_:][a-zA-Z0-9_:]*,
one # TYPE per family before its samples, counters end in _total and nothing else does, no
non-base units, histogram buckets per label set ascending in le, cumulative, ending with +Inf, and
_count equal to the +Inf bucket."""

from __future__ import annotations

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
BAD_UNIT = re.compile(r".*_(ms|milliseconds|microseconds|us|kb|mb|kilobytes|megabytes)(_total)?$")


def parse_float(text: str) -> float:
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    return float(text)


def parse_sample(line: str) -> tuple[str, dict[str, str], float]:
    m = re.match(r"([^{ ]+)(\{(.*)\})? (\S+)$", line)
    if not m:
        raise ValueError("unparseable sample")
    labels = {}
    body = m.group(3) or ""
    pos = 0
    while pos < len(body):
        lm = LABEL.match(body, pos)
        if not lm:
            raise ValueError("bad labels")
        labels[lm.group(1)] = lm.group(2)
        pos = lm.end()
        if pos < len(body):
            if body[pos] != ",":
                raise ValueError("bad labels")
            pos += 1
    return m.group(1), labels, parse_float(m.group(4))


class Exposition:
    """Parses `text`; `problems` lists every rule broken; `families` maps a family name to its
    type and its samples [(sample name, labels, value)]."""

    def __init__(self, text: str):
        self.problems: list[str] = []
        self.families: dict[str, dict] = {}
        current = None
        for n, line in enumerate(text.splitlines(), 1):
            where = f"line {n}: {line}: "
            if line.startswith("# HELP "):
                continue
            if line.startswith("# TYPE "):
                parts = line[7:].split()
                if len(parts) != 2:
                    self.problems.append(where + "bad TYPE line")
                    continue
                name, kind = parts
                if not NAME.match(name):
                    self.problems.append(where + "bad metric name")
                if name in self.families:
                    self.problems.append(where + "second TYPE for the family")
                if kind not in ("counter", "gauge", "histogram"):
                    self.problems.append(where + "unknown type")
                if kind == "counter" and not name.endswith("_total"):
                    self.problems.append(where + "counter without _total")
                if kind != "counter" and name.endswith("_total"):
                    self.problems.append(where + f"_total on a {kind}")
                if BAD_UNIT.match(name):
                    self.problems.append(where + "not a base unit")
                self.families[name] = {"type": kind, "samples": []}
                current = name
                continue
            if not line or line.startswith("#"):
                self.problems.append(where + "unexpected line")
                continue
            try:
                name, labels, value = parse_sample(line)
            except ValueError as e:
                self.problems.append(where + str(e))
                continue
            if current is None:
                self.problems.append(where + "sample before any TYPE")
                continue
            fam = self.families[current]
            allowed = {current} if fam["type"] != "histogram" else {
                current + s for s in ("_bucket", "_sum", "_count")}
            if name not in allowed:
                self.problems.append(where + "sample outside its family")
            fam["samples"].append((name, labels, value))
        for name, fam in self.families.items():
            if fam["type"] == "histogram":
                self._check_histogram(name, fam["samples"])

    def _check_histogram(self, name: str, samples) -> None:
        series: dict[tuple, dict] = {}
        for sample, labels, value in samples:
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            s = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
            if sample.endswith("_bucket"):
                if "le" not in labels:
                    self.problems.append(f"{name}{key}: bucket without le")
                    continue
                s["buckets"].append((parse_float(labels["le"]), value))
            elif sample.endswith("_count"):
                s["count"] = value
            else:
                s["sum"] = value
        for key, s in series.items():
            b = s["buckets"]
            where = f"{name}{dict(key)}: "
            if any(b[i][0] >= b[i + 1][0] for i in range(len(b) - 1)):
                self.problems.append(where + "le not ascending")
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                self.problems.append(where + "buckets not cumulative")
            if not b or b[-1][0] != math.inf:
                self.problems.append(where + 'buckets do not end with le="+Inf"')
            elif s["count"] != b[-1][1]:
                self.problems.append(where + "_count differs from the +Inf bucket")
            if s["sum"] is None:
                self.problems.append(where + "no _sum")

    def value(self, family: str, sample: str | None = None, **labels) -> float | None:
        """The value of the sample of `family` named `sample` (default: the family) whose labels
        include `labels`; None when there is none."""
        for name, have, value in self.families.get(family, {}).get("samples", []):
            if name == (sample or family) and all(have.get(k) == v for k, v in labels.items()):
                return value
        return None

    def labels(self, family: str, label: str) -> set[str]:
        return {have[label] for _, have, _ in self.families.get(family, {}).get("samples", [])
                if label in have}
