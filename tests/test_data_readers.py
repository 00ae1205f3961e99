from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recovery_jax.data import MissingAudioError, read_iemocap, read_msp_improv


def _wav(path: Path, seconds: float = 0.1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), np.float32), 16000, subtype="PCM_16")


IEMOCAP_LABELS = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]
C-E1:\tExcited;\t()

[14.8872 - 18.0175]\tSes01F_impro01_F002\tfru\t[2.0000, 3.5000, 3.5000]
C-E2:\tFrustration;\t()

[19.2900 - 20.8600]\tSes01F_impro01_M003\tang\t[1.5000, 4.0000, 4.0000]

[21.0000 - 23.5000]\tSes01F_impro01_F004\txxx\t[2.5000, 2.5000, 2.5000]
"""


def _iemocap(root: Path, missing=()) -> Path:
    release = root / "IEMOCAP_full_release"
    for session, dialog, text in ((1, "Ses01F_impro01", IEMOCAP_LABELS),
                                  (2, "Ses02M_script01_1", "[1.0 - 2.5]\tSes02M_script01_1_F000\tsad\t[1, 2, 3]\n")):
        sdir = release / f"Session{session}"
        (sdir / "dialog" / "EmoEvaluation" / "Categorical").mkdir(parents=True)  # a subfolder the reader ignores
        (sdir / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text(text)
        for line in text.splitlines():
            if line.startswith("[") and line.split("\t")[1] not in missing:
                _wav(sdir / "sentences" / "wav" / dialog / f"{line.split(chr(9))[1]}.wav")
    (release / "Session1" / "dialog" / "transcriptions").mkdir()
    (release / "Session1" / "dialog" / "transcriptions" / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\nSes01F_impro01_M001 [010.0100-011.3925]: Yeah, [LAUGHTER] do you?\n")
    return root


def test_iemocap_four_classes_with_excited_as_happy(tmp_path):
    utts = read_iemocap(_iemocap(tmp_path))
    assert [(u.utt_id, u.emotion, u.speaker, u.session) for u in utts] == [
        ("Ses01F_impro01_F000", "neutral", "Ses01F", 1), ("Ses01F_impro01_M001", "happy", "Ses01M", 1),
        ("Ses01F_impro01_M003", "angry", "Ses01M", 1), ("Ses02M_script01_1_F000", "sad", "Ses02F", 2)]
    assert utts[0].transcript == "EXCUSE ME" and utts[1].transcript == "YEAH DO YOU" and utts[2].transcript == ""
    assert utts[0].duration == pytest.approx(8.2357 - 6.2901)
    assert utts[3].path.endswith("Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F000.wav")
    assert read_iemocap(tmp_path / "IEMOCAP_full_release") == utts


def test_iemocap_missing_wavs_are_reported_or_skipped(tmp_path):
    _iemocap(tmp_path, missing={"Ses01F_impro01_M003"})
    with pytest.raises(MissingAudioError, match="1 labelled utterance.*Ses01F_impro01_M003.wav") as info:
        read_iemocap(tmp_path)
    assert len(info.value.paths) == 1
    assert [u.utt_id for u in read_iemocap(tmp_path, skip_missing=True)] == [
        "Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses02M_script01_1_F000"]


def test_iemocap_reads_only_dialog_label_files_and_names_the_others(tmp_path, caplog):
    labels = _iemocap(tmp_path) / "IEMOCAP_full_release" / "Session1" / "dialog" / "EmoEvaluation"
    stray = "[1.0 - 2.0]\tSes01F_impro01_F009\tang\t[1, 2, 3]\n"  # label-shaped, but no utterance of the release
    others = ["._Ses01F_impro01.txt", "notes.txt", "Ses02M_script01_1.txt"]  # fork, note, another session's name
    for name in others:
        (labels / name).write_text(stray)
    with caplog.at_level("WARNING"):
        utts = read_iemocap(tmp_path)
    assert [u.utt_id for u in utts] == [
        "Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_M003", "Ses02M_script01_1_F000"]
    assert "skipped 3 file(s)" in caplog.text and all(str(labels / name) in caplog.text for name in others)


def test_iemocap_wrong_root_says_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="EmoEvaluation"):
        read_iemocap(tmp_path)


MSP_LABELS = """UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:4.000000; V:2.000000; D:3.800000 ; N:2.600000;
nm01; Angry; Frustrated; A:4.000000; V:2.000000; D:4.000000 ; N:2.000000;
nm02; Angry; Other-annoyed; A:4.000000; V:2.000000; D:3.500000 ; N:3.000000;

UTD-IMPROV-S01A-M01-R-FM01.avi; H; A:3.400000; V:4.200000; D:3.000000 ; N:3.200000;
nm01; Happy; ; A:3.000000; V:4.000000; D:3.000000 ; N:3.000000;

UTD-IMPROV-S02H-F01-T-FM01.avi; O; A:3.000000; V:3.000000; D:3.000000 ; N:3.000000;

UTD-IMPROV-S03N-M03-S-MF03.avi; X; A:3.000000; V:3.000000; D:3.000000 ; N:3.000000;

UTD-IMPROV-S05S-M06-P-MF06.avi; S; A:NaN; V:NaN; D:NaN ; N:NaN;

UTD-IMPROV-S04N-F03-P-FM03.avi; N; A:3.000000; V:3.000000; D:3.000000 ; N:3.000000;
"""


def _msp(root: Path, label_name="Evaluation.txt", missing=()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / label_name).write_text(MSP_LABELS)
    for line in MSP_LABELS.splitlines():
        if line.startswith("UTD"):
            utt_id = line.split(".avi")[0][len("UTD-IMPROV-"):]
            scenario, speaker, kind, _ = utt_id.split("-")
            if utt_id not in missing:
                _wav(root / "Audio" / f"session{int(speaker[1:])}" / scenario / kind / f"MSP-IMPROV-{utt_id}.wav", 0.25)
    return root


@pytest.mark.parametrize("label_name", ["Evaluation.txt", "Evalution.txt"])
def test_msp_improv_consensus_labels_only(tmp_path, label_name):
    utts = read_msp_improv(_msp(tmp_path, label_name))
    assert [(u.utt_id, u.emotion, u.speaker, u.session) for u in utts] == [
        ("MSP-IMPROV-S01A-F01-P-FM01", "angry", "F01", 1), ("MSP-IMPROV-S01A-M01-R-FM01", "happy", "M01", 1),
        ("MSP-IMPROV-S05S-M06-P-MF06", "sad", "M06", 6), ("MSP-IMPROV-S04N-F03-P-FM03", "neutral", "F03", 3)]
    assert all(Path(u.path).stem == u.utt_id for u in utts)  # the release's own id: joins with other tools
    assert utts[0].path.endswith("Audio/session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav")
    assert all(u.duration == pytest.approx(0.25) for u in utts)


def test_msp_improv_missing_wavs_are_reported_or_skipped(tmp_path):
    _msp(tmp_path, missing={"S05S-M06-P-MF06", "S01A-F01-P-FM01"})
    with pytest.raises(MissingAudioError, match="2 labelled") as info:
        read_msp_improv(tmp_path)
    assert sorted(Path(p).name for p in info.value.paths) == [
        "MSP-IMPROV-S01A-F01-P-FM01.wav", "MSP-IMPROV-S05S-M06-P-MF06.wav"]
    assert [u.utt_id for u in read_msp_improv(tmp_path, skip_missing=True)] == [
        "MSP-IMPROV-S01A-M01-R-FM01", "MSP-IMPROV-S04N-F03-P-FM03"]
