"""The autoencoder, batch-wise training data, and BatchNorm folding."""

import shutil

import keras
import numpy as np
import pytest

from anomaly_detection.core.config import FitConfig, load_config
from anomaly_detection.core.errors import TrainingError
from anomaly_detection.device.tflite_convert import check_folding, fold_batch_norm
from anomaly_detection.features.cache import FeatureCache
from anomaly_detection.features.frame_store import FileFrameStore, MemoryFrameStore
from anomaly_detection.model.training import split_training_vectors
from anomaly_detection.pipeline.context import run_context
from anomaly_detection.pipeline.settings import RunSettings
from conftest import write_config
from keras_model import get_model, load_model, save_model


def test_layer_sequence_and_parameter_count():
    model = get_model(640)
    kinds = [type(layer).__name__ for layer in model.layers]
    expected = ["InputLayer"] + ["Dense", "BatchNormalization", "Activation"] * 9 + ["Dense"]
    assert kinds == expected
    units = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert units == [128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert all(
        layer.activation.__name__ == "relu"
        for layer in model.layers
        if isinstance(layer, keras.layers.Activation)
    )
    assert model.count_params() == 269_992
    assert get_model(320).output_shape == (None, 320)


def test_save_and_load_hdf5_round_trip(tmp_path):
    model = get_model(640)
    path = tmp_path / "model_X.hdf5"
    save_model(model, path)
    loaded = load_model(path)
    vectors = np.random.default_rng(0).normal(size=(7, 640)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict_on_batch(vectors), model.predict_on_batch(vectors), rtol=1e-6, atol=1e-6
    )
    assert not list(tmp_path.glob(".*part*"))


def make_store(n_clips=7, n_frames=20, n_mels=4):
    clips = [
        (clip + np.arange(n_frames)[:, None] / 100 + np.zeros(n_mels)).astype(np.float32)
        for clip in range(n_clips)
    ]
    return MemoryFrameStore.from_clips(iter(clips), n_clips, n_mels), clips


def test_batches_equal_the_reference_stacked_matrix_and_split():
    store, clips = make_store()
    frames = 5
    reference = np.concatenate(
        [
            np.concatenate([clip[t : len(clip) - frames + 1 + t] for t in range(frames)], axis=1)
            for clip in clips
        ]
    )  # the reference's list_to_vector_array, frame-major
    fit = FitConfig(batch_size=8, validation_split=0.1, shuffle=True)
    train, validation = split_training_vectors(store, frames=frames, fit=fit, seed=1)
    split_at = int(len(reference) * 0.9)
    assert (train.n_vectors, validation.n_vectors) == (split_at, len(reference) - split_at)
    np.testing.assert_array_equal(validation.as_array(), reference[split_at:])
    seen = np.concatenate([train[i][0] for i in range(len(train))])
    assert seen.shape == (split_at, 20)
    # Shuffled, but the same multiset of vectors as the reference's training part.
    assert not np.array_equal(seen, reference[:split_at])
    np.testing.assert_array_equal(np.unique(seen, axis=0), np.unique(reference[:split_at], axis=0))
    first_epoch = seen.copy()
    train.on_epoch_end()
    second = np.concatenate([train[i][0] for i in range(len(train))])
    assert not np.array_equal(first_epoch, second)


def test_frame_store_grows_for_uneven_clips():
    clips = [np.ones((n, 3), np.float32) * n for n in (5, 9, 30)]
    store = MemoryFrameStore.from_clips(iter(clips), 3, 3)
    assert store.frames.shape == (44, 3)
    assert list(store.clip_offsets) == [0, 5, 14, 44]
    assert len(store.vector_starts(5)) == 1 + 5 + 26


def test_file_store_reads_what_the_memory_store_holds(tmp_path):
    clips = [np.random.default_rng(n).normal(size=(n, 6)).astype(np.float32) for n in (7, 12, 9)]
    memory = MemoryFrameStore.from_clips(iter(clips), 3, 6)
    path = tmp_path / "frames.f32"
    memory.frames.tofile(path)
    on_file = FileFrameStore(path, memory.clip_offsets, 6)
    starts = memory.vector_starts(5)
    assert len(starts) == 3 + 8 + 5
    shuffled = np.random.default_rng(0).permutation(starts)
    np.testing.assert_array_equal(on_file.stack(shuffled, 5), memory.stack(shuffled, 5))
    for index, clip in enumerate(clips):
        np.testing.assert_array_equal(on_file.clip(index), clip)
    fit = FitConfig(batch_size=4, validation_split=0.25, shuffle=True)
    for one, other in zip(
        split_training_vectors(memory, frames=5, fit=fit, seed=2),
        split_training_vectors(on_file, frames=5, fit=fit, seed=2),
        strict=True,
    ):
        for index in range(len(one)):
            np.testing.assert_array_equal(one[index][0], other[index][0])


def test_file_store_cut_short_is_an_error(tmp_path):
    path = tmp_path / "frames.f32"
    np.zeros((20, 4), np.float32).tofile(path)
    store = FileFrameStore(path, np.array([0, 10, 20]), 4)
    with open(path, "r+b") as handle:
        handle.truncate(15 * 4 * 4)
    with pytest.raises(
        TrainingError, match="frames.f32: feature-cache file changed, cut short or grown"
    ):
        store.stack(np.array([0, 12]), 5)
    with pytest.raises(TrainingError, match="cut short"):
        store.clip(1)


def test_batch_norm_folding_reproduces_the_model():
    keras.utils.set_random_seed(0)
    model = get_model(640)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial BatchNorm statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.moving_mean.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, size),
                    rng.normal(0, 1, size),
                    rng.normal(0, 1, size),
                    rng.uniform(0.5, 3, size),
                ]
            )
    folded = fold_batch_norm(model)
    assert [type(layer).__name__ for layer in folded.layers] == ["InputLayer"] + ["Dense"] * 10
    vectors = rng.normal(size=(300, 640)).astype(np.float32)
    assert check_folding(model, folded, vectors) < 1e-5


def training_frames(config, type_dir, *, cache, skip_bad_clips=False):
    """The training frames of ``type_dir`` as the scripts load them."""
    settings = RunSettings(config, dev_mode=True, skip_bad_clips=skip_bad_clips)
    run = run_context(settings, cache=cache)
    return run.data.training_frames(type_dir)


def test_training_frames_come_from_the_cache_file_and_equal_recomputed_ones(tmp_path, tiny_data):
    config = load_config(write_config(tmp_path, tiny_data))
    type_dir = tiny_data / "dev_data" / "ToyCar"
    cache = FeatureCache(config.cache_directory, config.feature)
    uncached = training_frames(config, type_dir, cache=None)
    cold = training_frames(config, type_dir, cache=cache)
    warm = training_frames(config, type_dir, cache=cache)
    assert isinstance(uncached, MemoryFrameStore)
    assert isinstance(cold, FileFrameStore) and isinstance(warm, FileFrameStore)
    assert cold.path == warm.path and cold.path.parent.parent == tmp_path / "cache"
    assert uncached.n_clips == cold.n_clips == 20
    starts = uncached.vector_starts(5)
    np.testing.assert_array_equal(warm.stack(starts, 5), uncached.stack(starts, 5))


def test_skipped_bad_training_clip_leaves_the_others_in_the_cache(tmp_path, tiny_data):
    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data", data / "dev_data")
    type_dir = data / "dev_data" / "ToyCar"
    bad = type_dir / "train" / "normal_id_01_00000003.wav"
    bad.write_bytes(b"RIFF")
    config = load_config(write_config(tmp_path, data))
    cache = FeatureCache(config.cache_directory, config.feature)
    with pytest.raises(TrainingError, match="1 unusable clip"):
        training_frames(config, type_dir, cache=cache)
    store = training_frames(config, type_dir, cache=cache, skip_bad_clips=True)
    reference = training_frames(config, type_dir, cache=None, skip_bad_clips=True)
    assert isinstance(store, FileFrameStore) and store.n_clips == 19
    np.testing.assert_array_equal(store.clip(18), reference.clip(18))


def test_all_frames_of_a_file_store_equal_the_memory_store_and_check_its_size(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((n, 8)).astype(np.float32) for n in (5, 7, 6)]
    memory = MemoryFrameStore.from_clips(clips, 3, 8)
    path = tmp_path / "frames.f32"
    memory.frames.tofile(path)
    stored = FileFrameStore(path, memory.clip_offsets, 8)
    np.testing.assert_array_equal(stored.all_frames(), memory.all_frames())
    assert memory.all_frames().ctypes.data % 64 == 0
    unaligned = MemoryFrameStore(np.zeros((19, 8), dtype=np.float32)[1:], memory.clip_offsets)
    assert unaligned.all_frames().ctypes.data % 64 == 0
    np.testing.assert_array_equal(unaligned.all_frames(), unaligned.frames)
    with open(path, "ab") as handle:  # one row more than the offsets say
        handle.write(np.zeros(8, dtype=np.float32).tobytes())
    with pytest.raises(TrainingError, match="changed, cut short or grown while in use"):
        stored.all_frames()
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(TrainingError, match="changed, cut short or grown while in use"):
        stored.all_frames()
