"""The training frames on JAX's device: every frame store's frames held once, where the
compiled training steps gather each batch's vectors from them (:mod:`.scan_training`,
:mod:`.group_training`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.errors import TrainingError

__all__ = ["frames_on_device"]


def frames_on_device(stores: Sequence) -> tuple[object, list[int]]:
    """Every frame of ``stores`` once, on JAX's device, one store after another: in place
    on a CPU for a single store (its array is 64-byte aligned), else joined there.

    Returns
    -------
    frames : jax.Array, shape (n_rows, n_mels)
    offsets : list of int
        The row where each store's frames begin (add it to the store's vector starts).

    Raises
    ------
    TrainingError
        If the rows exceed int32 (the gathers' indices), or a store holds fewer rows
        than its clips (a gather would clamp, silently).
    """
    import jax

    arrays, offsets, total = [], [], 0
    for store in stores:
        rows = store.clip_offsets[-1]
        array = store.all_frames()
        if array.shape[0] < rows:
            raise TrainingError(f"the frame store holds {array.shape[0]} rows, not {rows}")
        arrays.append(array[:rows] if len(stores) > 1 else array)
        offsets.append(total)
        total += rows
    if total >= 2**31:
        raise TrainingError(f"{total} frames: more than int32 rows")
    if len(arrays) == 1:
        return jax.device_put(arrays[0]), offsets
    # joined on the device: no second copy of every frame in the host's memory
    return jax.numpy.concatenate([jax.device_put(array) for array in arrays]), offsets
