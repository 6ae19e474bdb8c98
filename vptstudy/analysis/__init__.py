"""Analysis over finished runs: report tables (tables.py), quadrants (quadrant.py), overfitting (overfitting.py)."""
