"""Adds up the results of scripts/test.sh: JUnit files from meson test and pytest,
and the fuzz log. Prints a line per suite and then "N passed, N failed"; exits 1 if
anything failed or a stage did not run (stage names given as extra arguments)."""
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def junit_counts(path):
    passed = failed = skipped = 0
    failures = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome = {child.tag for child in case}
        name = "%s::%s" % (case.get("classname"), case.get("name"))
        if outcome & {"failure", "error"}:
            failed += 1
            failures.append(name)
        elif "skipped" in outcome:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, failures


def main(results, missing_stages):
    results = Path(results)
    total_passed = total_failed = total_skipped = 0
    for name in ("meson.xml", "pytest.xml"):
        path = results / name
        if not path.exists():
            continue
        passed, failed, skipped, failures = junit_counts(path)
        print("%-10s %d passed, %d failed, %d skipped" % (name[:-4], passed, failed, skipped))
        for failure in failures:
            print("  FAILED", failure)
        total_passed += passed
        total_failed += failed
        total_skipped += skipped
    fuzz = results / "fuzz.txt"
    if fuzz.exists():
        for line in fuzz.read_text().splitlines():
            if line.endswith("passed"):
                total_passed += 1
            else:
                total_failed += 1
                print("  FAILED", line)
    for stage in missing_stages:
        print("  FAILED stage did not run:", stage)
        total_failed += 1
    line = "%d passed, %d failed" % (total_passed, total_failed)
    if total_skipped:
        line += ", %d skipped" % total_skipped
    print(line)
    return 1 if total_failed or total_passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
