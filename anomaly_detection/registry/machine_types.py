"""The machine types of each DCASE Task 2 year's archives, as the organisers publish them.

Each tuple lists the machine types of one set of archives (a development set, or an
evaluation set's training and test archives); :mod:`.years` names them in its records.
Standard library only.
"""

from __future__ import annotations

__all__ = [
    "TYPES_2020",
    "SEVEN_2021",
    "SEVEN_2022",
    "EVAL_2023",
    "EVAL_2024",
    "EVAL_2025",
    "DEV_2026",
    "EVAL_2026",
]

TYPES_2020 = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
SEVEN_2021 = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve")
SEVEN_2022 = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
EVAL_2023 = ("ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker")
EVAL_2024 = (
    "3DPrinter",
    "AirCompressor",
    "Scanner",
    "ToyCircuit",
    "HoveringDrone",
    "HairDryer",
    "ToothBrush",
    "RoboticArm",
    "BrushlessMotor",
)
EVAL_2025 = (
    "ToyRCCar",
    "ToyPet",
    "HomeCamera",
    "AutoTrash",
    "Polisher",
    "ScrewFeeder",
    "BandSealer",
    "CoffeeGrinder",
)
DEV_2026 = ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu", "sliderEmu", "valveEmu")
EVAL_2026 = ("BlowerDustCollector", "Sander", "SewingMachine", "ToothBrush", "ToyDrone")
