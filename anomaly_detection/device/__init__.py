"""The device path: TFLite conversion, LiteRT and TensorFlow Lite Micro inference, the
deployment report, EnergyRunner samples and its accuracy run emulated.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
