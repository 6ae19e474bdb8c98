"""Figures over finished runs, rendered with matplotlib's Agg backend (one module per figure kind)."""
