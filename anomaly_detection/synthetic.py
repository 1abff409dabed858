"""The earlier command line, kept: ``python -m anomaly_detection.synthetic OUTPUT ...`` runs
:mod:`anomaly_detection.data.synthetic` (where the generator lives now)."""

from __future__ import annotations

from .data.synthetic import main

if __name__ == "__main__":
    raise SystemExit(main())
