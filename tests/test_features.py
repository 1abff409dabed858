"""Log-mel features, frame stacking and the feature cache."""

import mmap
import os
import platform
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from anomaly_detection.core.config import FeatureConfig
from anomaly_detection.core.errors import FeatureError
from anomaly_detection.data.audio import load_audio
from anomaly_detection.dsp.mel import empty_mel_bands, mel_filter_bank
from anomaly_detection.features.cache import FeatureCache
from anomaly_detection.features.clip_features import file_to_log_mel
from anomaly_detection.features.extraction import extract_log_mels, iter_log_mels
from anomaly_detection.features.spectrogram import frame_stack, log_mel_spectrogram
from common import file_to_vector_array


@pytest.fixture(scope="module")
def clip(tiny_data):
    return sorted((tiny_data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[0]


def librosa_log_mel(path, n_mels=128, n_fft=1024, hop_length=512, power=2.0):
    import librosa

    signal, sample_rate = librosa.load(path, sr=None, mono=True)
    mel = librosa.feature.melspectrogram(
        y=signal, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=power
    )
    return 20.0 / power * np.log10(mel + sys.float_info.epsilon)  # (n_mels, n_frames)


@pytest.mark.parametrize(
    "n_mels, n_fft, hop_length, power",
    [(128, 1024, 512, 2.0), (64, 512, 256, 1.0), (128, 2048, 512, 2.0)],
)
def test_log_mel_matches_librosa(clip, n_mels, n_fft, hop_length, power):
    signal, sample_rate = load_audio(clip)
    ours = log_mel_spectrogram(signal, sample_rate, n_mels, n_fft, hop_length, power)
    expected = librosa_log_mel(clip, n_mels, n_fft, hop_length, power).T
    assert ours.shape == expected.shape == (1 + len(signal) // hop_length, n_mels)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - expected)) < 1e-3


def test_file_to_vector_array_is_cropped_and_frame_major(clip):
    vectors = file_to_vector_array(
        clip, n_mels=128, frames=5, n_fft=1024, hop_length=512, power=2.0
    )
    log_mel = librosa_log_mel(clip).T[50:250]
    assert vectors.shape == (196, 640)
    for index in (0, 17, 195):
        for t in range(5):
            np.testing.assert_allclose(
                vectors[index, t * 128 : (t + 1) * 128], log_mel[index + t], atol=1e-3
            )


def test_without_crop_all_frames_are_stacked(clip):
    vectors = file_to_vector_array(clip, n_mels=128, frame_crop=None)
    n_frames = 1 + 9 * 16000 // 512
    assert vectors.shape == (n_frames - 4, 640)


def test_frame_stack_layout():
    log_mel = np.arange(6 * 3, dtype=np.float32).reshape(6, 3)
    stacked = frame_stack(log_mel, 4)
    assert stacked.shape == (3, 12)
    np.testing.assert_array_equal(stacked[1], np.concatenate(log_mel[1:5]))
    with pytest.raises(FeatureError, match="has 6 log-mel frames, stacking needs 7"):
        frame_stack(log_mel, 7)


def test_multichannel_is_mixed_to_mono(tmp_path, clip):
    signal, sample_rate = load_audio(clip)
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.stack([signal, 0.5 * signal], axis=1), sample_rate, subtype="FLOAT")
    mixed, _ = load_audio(stereo)
    np.testing.assert_allclose(mixed, 0.75 * signal, atol=1e-6)


@pytest.mark.parametrize(
    "sample_rate, n_fft, n_mels",
    [(16000, 1024, 128), (16000, 2048, 64), (22050, 512, 40), (44100, 4096, 256)],
)
def test_mel_filter_bank_equals_librosa(sample_rate, n_fft, n_mels):
    import librosa

    expected = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, dtype=np.float32)
    bank = mel_filter_bank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
    np.testing.assert_array_equal(bank.T, expected)


def test_empty_mel_bands_count_librosas_all_zero_filters():
    import warnings

    import librosa

    counts = {}
    for sample_rate in (8000, 16000, 22050, 44100, 48000):
        for n_fft in (64, 128, 256, 512, 1024, 2048):
            for n_mels in (16, 40, 64, 128, 256):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # librosa warns about the bands counted
                    filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
                expected = int(np.sum(np.max(filters, axis=1) <= 0))
                ours = empty_mel_bands(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
                assert ours == expected, (sample_rate, n_fft, n_mels)
                counts[sample_rate, n_fft, n_mels] = ours
    assert counts[16000, 1024, 128] == 0  # the reference's settings
    assert counts[16000, 512, 128] == 0 < counts[48000, 512, 128] == 13  # wider bins at 48 kHz
    assert counts[16000, 256, 256] == 81


def test_feature_extraction_does_not_import_librosa(clip):
    import subprocess

    code = (
        "import sys; from anomaly_detection.core.config import FeatureConfig; "
        "from anomaly_detection.features.clip_features import file_to_log_mel; "
        f"file_to_log_mel({str(clip)!r}, FeatureConfig()); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'librosa'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    assert run.stdout.strip() == "[]"


def soundfile_samples(path, start, stop):
    with soundfile.SoundFile(path) as audio:
        audio.seek(start)
        return audio.read(stop - start, dtype="float32", always_2d=True).mean(
            axis=1, dtype=np.float32
        )


@pytest.mark.parametrize("channels", [1, 3])
def test_pcm16_is_read_exactly_as_libsndfile_reads_it(tmp_path, channels):
    rng = np.random.default_rng(channels)
    pcm = rng.integers(-32768, 32768, size=(5000, channels), dtype=np.int16)
    pcm[:3] = [[-32768], [32767], [0]]  # the extremes
    path = tmp_path / f"pcm16_{channels}.wav"
    soundfile.write(path, pcm, 16000, subtype="PCM_16")
    with open(path, "ab") as handle:  # a trailing chunk after the data must not matter
        handle.write(b"LIST\x04\x00\x00\x00abcd")
    for start, stop in [(0, 5000), (1234, 4321), (4990, 5000)]:
        signal, rate = load_audio(path, start, stop)
        assert rate == 16000 and signal.dtype == np.float32
        np.testing.assert_array_equal(signal, soundfile_samples(path, start, stop))
    whole, _ = load_audio(path, 100)
    assert whole.shape == (4900,)


def test_real_toycar_clips_read_exactly_as_libsndfile(tmp_path):
    from conftest import reference_dir

    for path in sorted(reference_dir().glob("*.wav")):
        signal, rate = load_audio(path)
        assert rate == 16000 and signal.size == soundfile.info(str(path)).frames
        np.testing.assert_array_equal(signal, soundfile_samples(path, 0, signal.size))


def test_a_long_chunk_before_the_data_is_followed(tmp_path):
    # The header is read in one piece of 512 bytes; chunks reaching past it are still found.
    pcm = np.arange(-1000, 1000, 7, dtype=np.int16)
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
    junk = b"JUNK" + struct.pack("<I", 1001) + bytes(1002)  # odd size, padded to even
    data = b"data" + struct.pack("<I", pcm.nbytes) + pcm.tobytes()
    path = tmp_path / "junk.wav"
    path.write_bytes(
        b"RIFF" + struct.pack("<I", 4 + len(fmt + junk + data)) + b"WAVE" + fmt + junk + data
    )
    signal, rate = load_audio(path)
    assert rate == 16000
    np.testing.assert_array_equal(signal, pcm / np.float32(32768))
    np.testing.assert_array_equal(signal, soundfile_samples(path, 0, pcm.size))


def test_pcm16_samples_give_exactly_the_float_samples_log_mel(clip):
    # Clips are windowed straight from their int16 samples with a window scaled by 2**-15;
    # the scale is a power of two, so the values equal those of the float signal.
    signal, sample_rate = load_audio(clip)
    np.testing.assert_array_equal(
        file_to_log_mel(clip, FeatureConfig(frame_crop=None)),
        log_mel_spectrogram(signal, sample_rate),
    )


def test_retaining_freed_memory_is_applied_with_glibc():
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from anomaly_detection.core.allocator import "
            "retain_freed_memory; print(retain_freed_memory())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert run.stdout.strip() == str(glibc)


def test_cold_cache_results_are_views_of_the_cache_file(tmp_path, tiny_data):
    # With a crop the computed log-mels are written to the cache file and handed on as views
    # of it (as on a cache hit), so a long clip list is not held twice in memory.
    files = sorted((tiny_data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:5]
    feature = FeatureConfig()
    cold = extract_log_mels(
        files, feature, cache=FeatureCache(tmp_path / "cache", feature), workers=2, progress=False
    )
    uncached = extract_log_mels(files, feature, progress=False)
    for one, other in zip(cold, uncached, strict=True):
        base = one.log_mel
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, mmap.mmap) and not one.log_mel.flags.writeable
        np.testing.assert_array_equal(one.log_mel, other.log_mel)


def test_cache_gives_identical_features_and_tracks_changes(tmp_path, tiny_data):
    feature = FeatureConfig()
    sources = sorted((tiny_data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:4]
    files = []
    for source in sources:
        files.append(tmp_path / source.name)
        files[-1].write_bytes(source.read_bytes())
    cache = FeatureCache(tmp_path / "cache", feature)
    cold = extract_log_mels(files, feature, cache=cache, progress=False)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    warm = extract_log_mels(files, feature, cache=cache, progress=False)
    uncached = extract_log_mels(files, feature, progress=False)
    for one, two, three in zip(cold, warm, uncached, strict=True):
        np.testing.assert_array_equal(one.log_mel, two.log_mel)
        np.testing.assert_array_equal(one.log_mel, three.log_mel)
        assert two.log_mel.shape == (200, 128)

    # A changed parameter, a touched file or another clip list gets a new entry.
    before = cache.entry_paths(files)
    assert FeatureCache(tmp_path / "cache", FeatureConfig(n_mels=64)).entry_paths(files) != before
    assert (
        FeatureCache(tmp_path / "cache", FeatureConfig(frame_crop=None)).entry_paths(files)
        != before
    )
    assert cache.entry_paths(files[:3]) != before
    os.utime(files[0], ns=(1, 1))
    assert cache.entry_paths(files) != before

    # A corrupt index is recomputed, not trusted.
    index, _ = cache.entry_paths(files)
    extract_log_mels(files, feature, cache=cache, progress=False)
    index.write_text("{not json")
    again = extract_log_mels(files, feature, cache=cache, progress=False)
    np.testing.assert_array_equal(again[0].log_mel, cold[0].log_mel)


def test_interrupted_extraction_leaves_no_cache_entry(tmp_path, tiny_data):
    files = sorted((tiny_data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:3]
    cache = FeatureCache(tmp_path / "cache", FeatureConfig())
    stream = iter_log_mels(files, FeatureConfig(), cache=cache, progress=False)
    next(stream)
    stream.close()  # the consumer stops early (e.g. Ctrl-C)
    assert cache.load(files) is None
    assert not list((tmp_path / "cache").rglob("*.*"))


@pytest.mark.parametrize("workers", [1, 2])
def test_lists_with_a_bad_clip_are_not_cached(tmp_path, tiny_data, workers):
    files = sorted((tiny_data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:2]
    bad = tmp_path / "normal_id_01_00000099.wav"
    bad.write_bytes(b"")
    cache = FeatureCache(tmp_path / "cache", FeatureConfig())
    clips = extract_log_mels(
        [*files, bad], FeatureConfig(), cache=cache, workers=workers, progress=False
    )
    assert str(clips[2].error) == f"{bad}: empty file (0 bytes)"
    # The good clips' features stay readable although no entry was kept.
    for clip, alone in zip(
        clips[:2], extract_log_mels(files, FeatureConfig(), progress=False), strict=True
    ):
        np.testing.assert_array_equal(clip.log_mel, alone.log_mel)
    assert cache.load([*files, bad]) is None
    assert not list((tmp_path / "cache").rglob("*.*"))


def test_parallel_extraction_equals_serial(tiny_data):
    files = sorted((tiny_data / "dev_data" / "ToyCar" / "test").glob("*.wav"))[:8]
    serial = extract_log_mels(files, FeatureConfig(), workers=1, progress=False)
    parallel = extract_log_mels(files, FeatureConfig(), workers=2, progress=False)
    assert [clip.path for clip in parallel] == files
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one.log_mel, other.log_mel)


@pytest.mark.parametrize("frame_crop", [(50, 250), None])
def test_parallel_cache_writes_equal_serial_features(tmp_path, tiny_data, frame_crop):
    # With a crop the workers write each clip into its slot of the cache file, in any
    # order; without one the clips are appended in order. Both must store the same data.
    feature = FeatureConfig(frame_crop=frame_crop)
    files = sorted((tiny_data / "dev_data" / "ToyCar" / "test").glob("*.wav"))[:9]
    cache = FeatureCache(tmp_path / "cache", feature)
    cold = extract_log_mels(files, feature, cache=cache, workers=2, progress=False)
    entry = cache.entry(files)
    assert entry is not None and len(entry.offsets) == len(files) + 1
    stored = np.fromfile(entry.data_path, dtype=np.float32).reshape(-1, 128)
    serial = extract_log_mels(files, feature, workers=1, progress=False)
    np.testing.assert_array_equal(stored, np.concatenate([clip.log_mel for clip in serial]))
    warm = extract_log_mels(files, feature, cache=cache, workers=2, progress=False)
    for one, two in zip(cold, warm, strict=True):
        np.testing.assert_array_equal(one.log_mel, two.log_mel)
