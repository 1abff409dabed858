"""The data: reading audio, dataset discovery and labels, the evaluation ground truth, the
synthetic dataset, downloads.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
