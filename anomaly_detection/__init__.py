"""MLPerf Tiny anomaly detection reference (DCASE 2020 Task 2 baseline), reproduced.

Importing this package has no side effects: no configuration is read and no
logging is configured until a script calls :func:`anomaly_detection.pipeline.cli.run_script`.
"""

__version__ = "2.0.0"
