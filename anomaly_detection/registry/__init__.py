"""What varies is data: the registered entries the rest of the package reads.

DCASE years (``years.py``), anomaly scores (``anomaly_scores.py``), runtimes
(``runtimes.py``) and model variants (``variants.py``) are tables of frozen
dataclasses. A new year, score or runtime is one entry in one of them; see
CONTRIBUTING.md. This subpackage is the lowest layer: it imports nothing else of
the package, and an entry names the code that implements it by its import path
(:func:`.implementation.load`), resolved only when it is used.
"""
