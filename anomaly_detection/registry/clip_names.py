"""A DCASE year's clip names, as ``str.format`` templates that are read as well as written.

A template names its fields in braces; each field has one meaning wherever it appears::

    {id:02d}        machine ID number (2020)         01        read as two digits
    {section:02d}   section number (2021 on)         00        read as two digits
    {domain}        source or target                 source
    {label}         normal or anomaly                anomaly
    {index:04d}     the clip's number                0003      read as any digits
    {attributes}    the clip's attributes            _spd_28V  written as given; optional when read

The synthetic writer formats a template into a name; the dataset readers match a name
against the template's pattern (:func:`name_pattern`), whose named groups are the fields
``id``, ``section``, ``domain`` and ``label``. The ``.wav`` extension is read in any case.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass

__all__ = [
    "ClipNames",
    "ID_NAMES",
    "SECTION_NAMES_2021",
    "SECTION_NAMES_2022",
    "name_pattern",
    "shown_name",
]

_READ = {
    "id": r"(?P<id>[0-9]{2})",
    "section": r"(?P<section>[0-9]{2})",
    "domain": r"(?P<domain>source|target)",
    "label": r"(?P<label>normal|anomaly)",
    "index": r"[0-9]+",
    "attributes": r"(?:_.*)?",
}
_SHOWN = {
    "id": "XX",
    "section": "XX",
    "domain": "<domain>",
    "label": "{normal,anomaly}",
    "index": "NNNN",
    "attributes": "*",
}
_EXTENSION = ".wav"


@dataclass(frozen=True)
class ClipNames:
    """The names of one layout's clips.

    Attributes
    ----------
    training : str
        A training clip's name (always normal).
    labelled_test : str
        A development test clip's name, with its label.
    evaluation_test : tuple of str
        The published names of the evaluation test clips (no label); the first is the
        one written, every one is read.
    """

    training: str
    labelled_test: str
    evaluation_test: tuple[str, ...]

    def every_template(self) -> tuple[str, ...]:
        """Every template of the layout: training, labelled test, published evaluation."""
        return (self.training, self.labelled_test, *self.evaluation_test)


def _fields(template: str) -> list[tuple[str, str | None]]:
    """``(literal text, field name or None)`` pieces of ``template``.

    Raises
    ------
    ValueError
        A field none of the layouts knows (see the module's table).
    """
    pieces = []
    for literal, field, _, _ in string.Formatter().parse(template):
        if field is not None and field not in _READ:
            raise ValueError(f"{template!r}: no clip-name field {{{field}}}")
        pieces.append((literal, field))
    return pieces


@functools.cache
def name_pattern(template: str) -> re.Pattern[str]:
    """The regular expression matching the names ``template`` writes, the whole name.

    Raises
    ------
    ValueError
        A field none of the layouts knows.
    """
    body = "".join(
        re.escape(literal) + (_READ[field] if field else "") for literal, field in _fields(template)
    )
    escaped = re.escape(_EXTENSION)
    if body.endswith(escaped):
        body = body[: -len(escaped)] + rf"(?i:{escaped})"
    return re.compile(f"^{body}$")


def shown_name(template: str) -> str:
    """``template`` as a message shows it: ``section_XX_<domain>_train_normal_NNNN*.wav``."""
    return "".join(
        literal + (_SHOWN[field] if field else "") for literal, field in _fields(template)
    )


#: 2020: machine IDs.
ID_NAMES = ClipNames(
    training="normal_id_{id:02d}_{index:08d}.wav",
    labelled_test="{label}_id_{id:02d}_{index:08d}.wav",
    evaluation_test=("id_{id:02d}_{index:08d}.wav",),
)
_TRAINING = "section_{section:02d}_{domain}_train_normal_{index:04d}{attributes}.wav"
_LABELLED = "section_{section:02d}_{domain}_test_{label}_{index:04d}{attributes}.wav"
#: 2021: sections; the evaluation clips keep their domain in the name.
SECTION_NAMES_2021 = ClipNames(
    _TRAINING, _LABELLED, ("section_{section:02d}_{domain}_test_{index:04d}.wav",)
)
#: 2022 on: the evaluation clips name their section only (``section_03_test_0000.wav``, as
#: the 2022 baseline's README writes them, is read too).
SECTION_NAMES_2022 = ClipNames(
    _TRAINING,
    _LABELLED,
    ("section_{section:02d}_{index:04d}.wav", "section_{section:02d}_test_{index:04d}.wav"),
)
