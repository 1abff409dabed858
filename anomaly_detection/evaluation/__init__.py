"""Evaluation: anomaly scores, AUC/pAUC, decision thresholds and decisions, result files, plots
and reports.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
