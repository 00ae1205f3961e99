import numpy as np
import pytest
import soundfile as sf

from recovery_jax.data import AudioError, load_audio


def _wav(path, audio, rate=16000, subtype="PCM_16"):
    sf.write(path, audio, rate, subtype=subtype)
    return path


@pytest.fixture
def tone():
    return (0.3 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)


def test_loads_mono_16k_as_float32(tmp_path, tone):
    audio = load_audio(_wav(tmp_path / "a.wav", tone))
    assert audio.dtype == np.float32 and audio.shape == (8000,)
    np.testing.assert_allclose(audio, tone, atol=1 / 32768)


def _error(path, **kwargs) -> AudioError:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    return info.value


def test_missing_empty_and_corrupt_files(tmp_path):
    assert "no such file" in str(_error(tmp_path / "absent.wav"))
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty" in str(_error(tmp_path / "empty.wav"))
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    assert "corrupt" in str(_error(tmp_path / "junk.wav"))


def test_truncated_wav_is_an_error_not_a_shorter_clip(tmp_path, tone):
    data = _wav(tmp_path / "full.wav", tone).read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    assert "truncated" in str(_error(tmp_path / "cut.wav"))


def test_non_finite_samples(tmp_path, tone):
    bad = tone.copy()
    bad[10], bad[20] = np.nan, np.inf
    assert "2 NaN/Inf" in str(_error(_wav(tmp_path / "nan.wav", bad, subtype="FLOAT")))


def test_stereo_is_rejected(tmp_path, tone):
    assert "2 channels" in str(_error(_wav(tmp_path / "st.wav", np.stack([tone, tone], axis=1))))


def test_other_rate_needs_explicit_resampling(tmp_path, tone):
    path = _wav(tmp_path / "8k.wav", tone, rate=8000)
    err = _error(path)
    assert "8000 Hz" in str(err) and "resample=True" in str(err)
    audio = load_audio(path, resample=True)
    assert audio.dtype == np.float32 and audio.shape == (16000,)


def test_shorter_than_receptive_field(tmp_path, tone):
    path = _wav(tmp_path / "short.wav", tone[:399])
    assert "at least 400 samples" in str(_error(path, min_samples=400))
    assert load_audio(path, min_samples=399).shape == (399,)
