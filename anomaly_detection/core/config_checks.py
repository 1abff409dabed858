"""The configuration's cross-key checks: keys valid alone but not together (a crop
shorter than the stacked frames, empty mel bands, an autoencoder too large)."""

from __future__ import annotations

from typing import Any

from ..dsp.mel import empty_mel_bands
from .config_values import MAX_N_FFT, MAX_N_MELS

__all__ = ["DCASE_SAMPLE_RATE", "MAX_PARAMETERS", "autoencoder_parameters", "cross_key_problems"]

#: The sample rate of the DCASE recordings, for the checks that need one.
DCASE_SAMPLE_RATE = 16_000

#: Parameters of the autoencoder (the reference's: 269,992); about 16 bytes each while
#: training (weights, gradients, Adam's two moments): 20 million take some 320 MB.
MAX_PARAMETERS = 20_000_000


def autoencoder_parameters(
    input_dim: int, hidden_units: int, bottleneck_units: int, hidden_layers: int
) -> int:
    """Parameters of ``keras_model.get_model``'s autoencoder (Dense kernels and biases,
    four per BatchNorm unit): 269,992 for 640, 128, 8, 4."""
    widths = [input_dim, *[hidden_units] * hidden_layers, bottleneck_units]
    widths += [*[hidden_units] * hidden_layers, input_dim]
    dense = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    batch_norm = 4 * (2 * hidden_layers * hidden_units + bottleneck_units)
    return dense + batch_norm


def cross_key_problems(values: dict[str, Any]) -> list[str]:
    """Problems of keys that are valid alone but not together.

    Parameters
    ----------
    values : dict of str to Any
        The converted values that passed their own checks, by dotted key
        (``feature.n_fft``); a key that failed is absent and its pairs are not checked.

    Returns
    -------
    list of str
        One line per problem, naming the keys; empty when they agree.
    """
    problems = []
    crop = values.get("feature.frame_crop")
    frames = values.get("feature.frames")
    if crop is not None and frames is not None and frames > crop[1] - crop[0]:
        problems.append(
            f"'feature.frames' ({frames}) is larger than the cropped clip "
            f"({crop[1] - crop[0]} frames from 'feature.frame_crop')"
        )
    n_fft, n_mels = values.get("feature.n_fft"), values.get("feature.n_mels")
    if (
        isinstance(n_fft, int)
        and isinstance(n_mels, int)
        and 2 <= n_fft <= MAX_N_FFT
        and 1 <= n_mels <= MAX_N_MELS
    ):
        empty = empty_mel_bands(sample_rate=DCASE_SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels)
        if empty:
            problems.append(
                f"'feature.n_fft' ({n_fft}) is too small for 'feature.n_mels' ({n_mels}): "
                f"{empty} mel band(s) would hold no FFT bin at {DCASE_SAMPLE_RATE} Hz"
            )
    problems += _model_size_problems(values)
    if values.get("organisers_files") and "seed" in values and values["seed"] is None:
        problems.append(
            "'organisers_files' needs a 'seed': the organisers' file names carry it "
            "(their presets: 13711)"
        )
    return problems


def _model_size_problems(values: dict[str, Any]) -> list[str]:
    """The autoencoder's parameters must stay under :data:`MAX_PARAMETERS`."""
    shape = [
        values.get(key, default)
        for key, default in (
            ("feature.n_mels", 128),
            ("feature.frames", 5),
            ("model.hidden_units", 128),
            ("model.bottleneck_units", 8),
            ("model.hidden_layers", 4),
        )
    ]
    if not all(isinstance(value, int) and value >= 0 for value in shape):
        return []
    n_mels, frames, hidden_units, bottleneck_units, hidden_layers = shape
    parameters = autoencoder_parameters(
        n_mels * frames, hidden_units, bottleneck_units, hidden_layers
    )
    if parameters <= MAX_PARAMETERS:
        return []
    return [
        f"the autoencoder would have {parameters:,} parameters (model.hidden_units "
        f"{hidden_units}, model.hidden_layers {hidden_layers}, model.bottleneck_units "
        f"{bottleneck_units}, {n_mels * frames} inputs): at most {MAX_PARAMETERS:,}"
    ]
