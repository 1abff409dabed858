"""The model: Keras backend choice, training, and provenance (what a model was made from,
checked before use).

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
