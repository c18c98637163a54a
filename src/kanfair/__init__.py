"""kanfair: a fair benchmark of KANs against MLPs at equal parameter or FLOP budgets."""
__version__ = "0.1.0"
