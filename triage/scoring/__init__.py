"""Scoring: the weights table (`table.py`) and the pure function from findings to a score (`score.py`)."""
