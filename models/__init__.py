"""Analytical models: data contracts, assessment scoring, quality audit, hotspots, forecasts,
training needs."""
