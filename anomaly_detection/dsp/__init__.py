"""Signal processing with numpy alone: the mel scale and its filter bank.

The lowest layer beside :mod:`anomaly_detection.registry`: the configuration's checks
and the features both use the one filter bank defined here.
"""
