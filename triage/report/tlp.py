"""The Traffic Light Protocol levels the STIX and MISP exports accept, kept apart so the CLI can offer them without
importing the exporters."""

from __future__ import annotations

TLP_LEVELS = ("clear", "white", "green", "amber", "red")
# The exports name the recipients and quote their mail: for named partners only, unless the analyst says otherwise.
DEFAULT_TLP = "amber"
