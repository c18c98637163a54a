"""A report is about one budget: every table, plot and verdict is cut into sections by the
runs' budget label (kanfair.budget.label: '2,000 params', '1,000,000 flops (ops)', or 'none'
for runs that were not sized to a budget), and each section is titled here, so that no
report pools a run at 2,000 parameters with one at 10,000 or with an unmatched one."""
from __future__ import annotations

NONE = "none"


def section_title(budget: str) -> str:
    """A section's heading: 'At 2,000 params', or 'No matched budget (each run its own size)'."""
    return "No matched budget (each run its own size)" if budget == NONE else f"At {budget}"


def where_said(budget: str) -> str:
    """The opening of a section's headline sentence."""
    return "Without a matched budget" if budget == NONE else f"At {budget}"


def file_tag(budget: str) -> str:
    """A budget as part of a file name: '2000_params', 'no_budget'."""
    if budget == NONE:
        return "no_budget"
    return "".join(c if c.isalnum() else "_" for c in budget.replace(",", "")).strip("_").replace("__", "_")


def ordered(budgets) -> list[str]:
    """Budgets in reading order: matched ones by kind and size, then the unmatched runs."""
    def key(budget: str) -> tuple:
        if budget == NONE:
            return (1, "", 0.0)
        target, _, kind = budget.partition(" ")
        return (0, kind, float(target.replace(",", "")))
    return sorted(set(budgets), key=key)
