"""The arithmetic training runs in: float32, or bfloat16 products where the device has them.

Precision ``"bfloat16"`` trains a twin of the model under Keras'
``mixed_bfloat16`` policy: Dense products take bfloat16 operands and
accumulate in float32, while BatchNorm, the loss and the optimizer state stay in
float32 (Keras' own rule for that policy). The variables are the float32
model's, so the model saved afterwards is float32 either way. It is used only
where the device has native bfloat16 arithmetic (:func:`native_bfloat16`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from ..core.errors import TrainingError
from ..core.native_logs import quiet_native_stderr

with quiet_native_stderr():
    import keras

__all__ = ["native_bfloat16", "training_precision", "twin_in_bfloat16"]

logger = logging.getLogger(__name__)

#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic: x86 AVX-512 BF16
#: and AMX, Arm's BF16 extension.
_BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether JAX's default device computes in bfloat16 natively.

    A GPU does (every GPU JAX supports has bfloat16 units or converts at full
    rate); a CPU does when its flags name AVX-512 BF16, AMX BF16 or Arm BF16.
    Without them XLA emulates bfloat16 products, which is slower than float32.
    """
    import jax

    if jax.default_backend() != "cpu":
        return True
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return bool(_BFLOAT16_CPU_FLAGS & set(value.split()))
    return False


def training_precision(wanted: str) -> str:
    """The precision training runs in: ``wanted``, except ``"bfloat16"`` on a device
    without native bfloat16 arithmetic, which trains in float32 (logged once)."""
    if wanted == "bfloat16" and not native_bfloat16():
        _log_float32_fallback()
        return "float32"
    return wanted


@functools.cache
def _log_float32_fallback() -> None:
    logger.info(
        "fit.precision bfloat16: this CPU has no native bfloat16 arithmetic "
        "(AVX-512 BF16, AMX or Arm BF16); training in float32"
    )


def twin_in_bfloat16(model: keras.Model) -> keras.Model:
    """The same layers under ``mixed_bfloat16``: the variables (float32) line up with
    ``model``'s, one for one; only the arithmetic of its ``call`` differs."""

    def in_bfloat16(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        return layer.__class__.from_config({**layer.get_config(), "dtype": "mixed_bfloat16"})

    twin = keras.models.clone_model(model, clone_function=in_bfloat16)
    if [v.shape for v in twin.variables] != [v.shape for v in model.variables]:
        raise TrainingError("the bfloat16 twin's variables do not match the model's")
    return twin
