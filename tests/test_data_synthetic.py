import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from configs.corpus import get_config
from recovery_jax.data import EMOTIONS, load_audio, read_manifest, synthesize_asr_corpus, synthesize_emotion_corpus
from recovery_jax.data import synthetic
from recovery_jax.data.espeak import Prosody, synthesize
from recovery_jax.data.prosody import EMOTION_TILT

REPO = Path(__file__).resolve().parents[1]
TRANSCRIPT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ' ")


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "emotion"
    return root, synthesize_emotion_corpus(root, get_config("quick"))


def test_emotion_corpus_is_shaped_like_iemocap(quick):
    root, utts = quick
    per_speaker = get_config("quick").emotion.per_speaker
    assert len(utts) == 10 * sum(per_speaker.values())
    assert sorted({u.speaker for u in utts}) == [f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"]
    for u in utts:
        assert u.speaker.startswith(f"Ses{u.session:02d}") and u.emotion in EMOTIONS
        assert u.transcript and set(u.transcript) <= TRANSCRIPT_CHARS
        audio = load_audio(u.path)
        assert abs(len(audio) / 16000 - u.duration) < 1e-3 and 0.5 < u.duration < 4.0
        assert np.abs(audio).max() <= 1.0 and sf.info(u.path).subtype == "PCM_16"
    assert read_manifest(root / "manifest.tsv") == utts


def test_same_seed_is_byte_identical_in_and_across_processes(quick, tmp_path):
    root, _ = quick
    again = tmp_path / "again"
    synthesize_emotion_corpus(again, get_config("quick"))
    assert tree_hash(again) == tree_hash(root)
    code = ("import sys; from configs.corpus import get_config; from recovery_jax.data import "
            "synthesize_emotion_corpus as s; s(sys.argv[1], get_config('quick'))")
    other = tmp_path / "other_process"
    subprocess.run([sys.executable, "-c", code, str(other)], check=True, cwd=REPO)
    assert tree_hash(other) == tree_hash(root)
    config = get_config("quick")
    config.emotion.seed = 1
    synthesize_emotion_corpus(tmp_path / "seed1", config)
    assert tree_hash(tmp_path / "seed1") != tree_hash(root)


def brightness(audio: np.ndarray) -> float:
    """log energy above 4 kHz over energy below 1 kHz (16 kHz audio)."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / 16000)
    return float(np.log(power[freqs > 4000].sum() / power[freqs < 1000].sum()))


def test_tilt_keeps_loudness_and_sets_the_high_to_low_gain():
    noise = np.random.default_rng(0).standard_normal(160000).astype(np.float32)
    for tilt in (-0.5, 0.3, 0.6):
        out = synthetic._tilted(noise, tilt)
        assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(noise ** 2)), rel=1e-5)
        power = np.abs(np.fft.rfft(out)) ** 2
        freqs = np.fft.rfftfreq(out.size, 1 / 16000)
        gain = power[freqs > 7500].mean() / power[freqs < 500].mean()
        assert gain == pytest.approx(((1 + tilt) / (1 - tilt)) ** 2, rel=0.1)
    assert synthetic._tilted(noise, 0.0) is noise


def test_emotions_tilt_the_spectrum_and_tilt_scale_0_turns_it_off(quick, tmp_path):
    root, utts = quick
    config = get_config("quick")
    config.emotion.tilt_scale = 0.0
    flat = synthesize_emotion_corpus(tmp_path / "flat", config)
    for u, f in zip(utts, flat, strict=True):  # same draws, so only the emotion's tilt differs
        tilted, untilted = load_audio(u.path), load_audio(f.path)
        if EMOTION_TILT[u.emotion] == 0:
            assert np.array_equal(tilted, untilted)
        else:
            assert np.sign(brightness(tilted) - brightness(untilted)) == np.sign(EMOTION_TILT[u.emotion])


def test_one_library_instance_per_clip_gives_repeatable_audio():
    clips = [synthesize("Can you hear me now?", "en-us+f2", Prosody(rate=190, pitch=60), seed=5) for _ in range(3)]
    assert all(np.array_equal(clips[0], c) for c in clips[1:])


def test_unknown_voices_are_rejected():
    with pytest.raises(ValueError, match="variant"):
        synthesize("Hello.", "en-us+f9", Prosody(), seed=0)
    with pytest.raises(ValueError, match="voice"):
        synthesize("Hello.", "en-gb+f4", Prosody(), seed=0)


def test_finished_corpus_is_reused_and_a_new_config_rebuilds(quick, tmp_path, monkeypatch):
    root, utts = quick
    calls = []
    real = synthetic.synthesize
    monkeypatch.setattr(synthetic, "synthesize", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert synthesize_emotion_corpus(root, get_config("quick")) == utts
    assert calls == []
    config = get_config("quick")
    config.emotion.per_speaker = dict(angry=1, happy=0, neutral=0, sad=1)
    smaller = synthesize_emotion_corpus(root, config)
    assert len(calls) == len(smaller) == 20 and {u.emotion for u in smaller} == {"angry", "sad"}
    assert len(list(root.rglob("*.wav"))) == 20  # the old tree was replaced, not merged


def test_killed_synthesis_leaves_nothing_that_looks_finished(tmp_path, monkeypatch):
    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "synthesize", dies)
    with pytest.raises(KeyboardInterrupt):
        synthesize_emotion_corpus(tmp_path / "emotion", get_config("quick"))
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    assert len(synthesize_emotion_corpus(tmp_path / "emotion", get_config("quick"))) == 40


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        synthesize_emotion_corpus(tmp_path / "mine", get_config("quick"))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_asr_corpus_subsets_are_nested_neutral_and_from_other_voices(tmp_path):
    config = get_config("quick")
    subsets = synthesize_asr_corpus(tmp_path / "asr", config)
    assert {k: len(v) for k, v in subsets.items()} == dict(config.asr.subsets)
    assert subsets["asr10"] == subsets["asr100"][:1] and subsets["asr100"] == subsets["asr960"][:3]
    assert len({u.speaker for u in subsets["asr100"]}) == 3  # interleaved: small subsets span voices
    assert {u.emotion for u in subsets["asr960"]} == {"neutral"}
    assert all(set(u.transcript) <= TRANSCRIPT_CHARS for u in subsets["asr960"])
    assert not any(v.startswith("en-us+") and v[-2] in "fm" and v[-1] in "12345" for v in synthetic.ASR_VOICES)
    assert read_manifest(tmp_path / "asr" / "asr960.tsv") == subsets["asr960"]
