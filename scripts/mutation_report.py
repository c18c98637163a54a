"""The verdict of `make mutation`: mutmut's results, and every surviving mutant in the
functions that select the reported number or store it, each either explained in
tests/MUTANTS.md or listed as unexplained (exit 1).

    mutmut results --all true > mutants/results.txt
    python scripts/mutation_report.py mutants/results.txt
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPLAINED = REPO / "tests" / "MUTANTS.md"
# the functions that decide which number is reported, and those that keep it
SELECTION_AND_STORAGE = {
    "kanfair.trainer": {"_select", "fit", "fit_continual", "make_splits", "check_validation_split",
                        "evaluate"},
    "kanfair.report.tables": {"configuration_key", "summarise", "tuned_finals", "best_per_family", "frontier",
                       "continual_summary"},
    "kanfair.results": {"config_hash", "run_id_for", "atomic_write_json", "read_records", "read_store",
                        "record_problem", "stored_problem", "record_path", "finished_ok", "write_record"},
}
LINE = re.compile(r"^\s*(?P<name>(?P<module>[\w.]+)\.x_(?P<function>\w+?)__mutmut_\d+): (?P<status>.+)$")


def explained(path: Path) -> dict[str, str]:
    """Mutant name -> its explanation, from the file's lines "- `name`: why"."""
    entries = re.findall(r"^- `([^`]+)`: (.+)$", path.read_text(), flags=re.MULTILINE)
    return dict(entries)


def main(results_file: str | Path, explained_file: Path = EXPLAINED) -> int:
    statuses: Counter[str] = Counter()
    survivors = []
    for line in Path(results_file).read_text().splitlines():
        match = LINE.match(line)
        if not match:
            continue
        statuses[match["status"]] += 1
        if (match["status"] == "survived"
                and match["function"] in SELECTION_AND_STORAGE.get(match["module"], ())):
            survivors.append(match["name"])
    total = sum(statuses.values())
    print(f"{total} mutants: " + ", ".join(f"{count} {status}" for status, count in statuses.most_common()))
    reasons = explained(explained_file)
    unexplained = [name for name in survivors if name not in reasons]
    print(f"{len(survivors)} survive in the selection and storage functions; "
          f"{len(survivors) - len(unexplained)} explained in {explained_file}")
    for name in survivors:
        print(f"  {name}: {reasons.get(name, 'UNEXPLAINED (see it with: mutmut show ' + name + ')')}")
    return 1 if unexplained or not total else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
