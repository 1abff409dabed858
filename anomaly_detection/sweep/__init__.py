"""Sweeps: seeds x settings grids, their runs (locally or as Ray tasks) and their summaries
over seeds.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
