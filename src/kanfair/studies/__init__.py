"""Studies: many runs on top of `kanfair.runner.run`, none with a training loop of its own.

- `tune`: equal tuning effort, one Optuna study per (data set, family, budget), its best
  configuration re-run on seeds.
- `robustness`: re-runs the runs a verdict stands on under another CPU kernel set and
  compares the verdicts.
- `plan`: what a sweep will cost before it runs, from timing probes of the trainer's step.

They may read reports (`kanfair.report`); reports never import them, and nothing here
imports `kanfair.cli`.
"""
