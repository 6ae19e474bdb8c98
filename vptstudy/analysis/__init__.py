"""Analysis over finished runs: report tables (tables.py), the paper comparison (paper.py), quadrants (quadrant.py),
overfitting (overfitting.py)."""
