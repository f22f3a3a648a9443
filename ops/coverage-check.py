#!/usr/bin/env python3
"""The coverage gate of ops/test.sh: reads cargo-tarpaulin's JSON report and fails (exit 1)
unless line coverage is at least 80% overall and 90% in dataflows/ (the engine). Prints a
table by area and the files with the most uncovered lines, so a drop says where to look.

    python3 ops/coverage-check.py target/coverage/report/tarpaulin-report.json
"""
import json
import sys
from collections import defaultdict

OVERALL_MIN = 80.0
DATAFLOWS_MIN = 90.0


def area(path):
    parts = path.split("/")
    if parts[0] == "crates" and len(parts) > 1:
        return "crates/" + parts[1]
    return parts[0]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ops/coverage-check.py TARPAULIN_REPORT.json")
    report = json.load(open(sys.argv[1]))
    root = None
    areas = defaultdict(lambda: [0, 0])
    files = []
    for entry in report["files"]:
        full = "/".join(entry["path"]).replace("//", "/")
        # Paths are absolute: keep them from the repository root (where Cargo.lock is).
        for marker in ("/dataflows/", "/crates/", "/src/", "/benches/", "/tests/"):
            at = full.rfind(marker)
            if at >= 0:
                root = full[:at] if root is None else root
                break
        rel = full[len(root) + 1:] if root and full.startswith(root) else full
        if rel.startswith(("benches/", "tests/", "fuzz/")) or rel == "build.rs":
            continue
        covered, coverable = entry["covered"], entry["coverable"]
        areas[area(rel)][0] += covered
        areas[area(rel)][1] += coverable
        files.append((coverable - covered, rel, covered, coverable))

    def pct(covered, coverable):
        return 100.0 * covered / coverable if coverable else 100.0

    total = [sum(a[0] for a in areas.values()), sum(a[1] for a in areas.values())]
    print(f"{'area':<18} {'lines':>13} {'coverage':>9}")
    for name, (covered, coverable) in sorted(areas.items()):
        print(f"{name:<18} {covered:>6}/{coverable:<6} {pct(covered, coverable):>8.1f}%")
    print(f"{'all':<18} {total[0]:>6}/{total[1]:<6} {pct(*total):>8.1f}%")
    print("most uncovered lines:")
    for missing, rel, covered, coverable in sorted(files, reverse=True)[:8]:
        print(f"  {missing:>5} uncovered  {rel} ({pct(covered, coverable):.0f}%)")

    failures = []
    if pct(*total) < OVERALL_MIN:
        failures.append(f"overall line coverage {pct(*total):.1f}% is under {OVERALL_MIN:.0f}%")
    engine = areas.get("dataflows")
    if engine is None:
        failures.append("no dataflows/ file in the report: was the engine's crate measured?")
    elif pct(*engine) < DATAFLOWS_MIN:
        failures.append(f"dataflows/ line coverage {pct(*engine):.1f}% is under {DATAFLOWS_MIN:.0f}%")
    for failure in failures:
        print(f"ops/coverage-check.py: {failure}: add tests for the files above", file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"coverage: ok ({pct(*total):.1f}% overall, at least {OVERALL_MIN:.0f}%; "
          f"dataflows {pct(*engine):.1f}%, at least {DATAFLOWS_MIN:.0f}%)")


if __name__ == "__main__":
    main()
