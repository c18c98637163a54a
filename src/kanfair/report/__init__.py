"""Reports: read run records, never run anything, write tables, plots and verdicts.

Which module writes which report (all are driven by `tables.write_report`, the entry of
`scripts/report.py` / `kanfair-report`):

- `tables`: table.md / table.csv (each family's best configuration, mean ± std over seeds),
  the Pareto plots and continual.md; it reads the records and calls the others.
- `verdict`: verdict.md, the statistical tests over seeds, repeats and data sets.
- `latex`: tables.tex (`--latex`), the comparison and the verdict as booktabs tables.
- `scaling`: scaling.md (`--scaling`), the fitted exponent of error against size.
- `physics`: pde.md and the error curves of physics-informed runs.
- `kan_paper`: kan_paper.md (`--kan-paper`), the KAN paper's claims beside its tables.
- `metrics`: which headline metrics exist and which way each is better (shared with the
  tuner and the robustness check).

A new report kind is one module here that takes the records' frame (`tables.runs_frame`)
and returns the files it wrote, one flag in `cli/report.py`, and one call in
`tables.write_report`. Nothing here imports `kanfair.studies` or `kanfair.cli`.
"""
