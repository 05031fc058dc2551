"""Spatial foundation: coordinate systems, the stable grid, jurisdictions and maps."""
