"""Command-line entry points: kanfair-train, kanfair-tune, kanfair-size, kanfair-report,
kanfair-data and kanfair-plan. They wire arguments and Hydra to the plain modules below
(`kanfair.runner`, `kanfair.studies.tune`, `kanfair.report.tables` ...); nothing below imports them."""
