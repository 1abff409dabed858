"""The small core every layer uses: configuration, errors, the output layout, the model-variant
registry, atomic file writes, Ctrl-C handling, the allocator setting.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
