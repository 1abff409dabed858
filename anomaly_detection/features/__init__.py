"""Features: log-mel spectrograms, parallel extraction, the feature cache (the only owner of
its format), frame stores of training vectors.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
