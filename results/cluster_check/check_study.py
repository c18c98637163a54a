"""The tuned studies of results/cluster_check read back from their PostgreSQL storage: per
study, the trials finished, their distinct value sets, which worker ran them, the draws not
trained, and the trial and final records in the runs folder.
  python results/cluster_check/check_study.py postgresql+psycopg2://kanfair:kanfair@127.0.0.1:5432/cluster_check results/cluster_check/tuned
"""
import collections
import json
import sys
from pathlib import Path

import optuna

url, results = sys.argv[1], Path(sys.argv[2])
records = [json.loads(path.read_text()) for path in (results / "runs").glob("*.json")]
for name in sorted(optuna.get_all_study_names(url)):
    trials = optuna.load_study(study_name=name, storage=url).get_trials()
    finished = [t for t in trials if "status" in t.user_attrs]
    values = {json.dumps(t.user_attrs["values"], sort_keys=True) for t in finished}
    by_worker = collections.Counter(t.user_attrs["worker"] for t in finished)
    runs = [r for r in records if r["config"]["tune"]["study"] == name]
    finals = [r for r in runs if r["config"]["tune"]["phase"] == "final"]
    print(f"{name}: {len(finished)} trials finished (indices {sorted(t.user_attrs['index'] for t in finished)}), "
          f"{len(values)} distinct value sets, by worker {dict(sorted(by_worker.items()))}, "
          f"{len(trials) - len(finished)} draws not trained; {len(runs) - len(finals)} trial records, "
          f"{len(finals)} final records (seeds {sorted(r['seed'] for r in finals)})")
