import numpy as np
import pytest

from recovery_jax.embed import store

IDS = ["u1", "u2", "u3"]
META = {"features": "toy", "layers": (1, 2)}


def test_roundtrip_dense_and_ragged_in_requested_order(tmp_path):
    dense = np.arange(6, dtype=np.float32).reshape(3, 2)
    store.write_table(tmp_path / "d.npz", IDS, dense, META)
    np.testing.assert_array_equal(store.read_table(tmp_path / "d.npz", ["u3", "u1"], META), dense[[2, 0]])
    ragged = [np.full((n, 2), n, np.float32) for n in (1, 3, 2)]
    store.write_table(tmp_path / "r.npz", IDS, ragged, META)
    got = store.read_table(tmp_path / "r.npz", ["u2", "u3"])
    assert [g.shape for g in got] == [(3, 2), (2, 2)] and got[1][0, 0] == 2


def test_mismatches_name_the_file(tmp_path):
    path = tmp_path / "t.npz"
    store.write_table(path, IDS, np.zeros((3, 2)), META)
    with pytest.raises(ValueError, match=r"t\.npz: written for other inputs \(differs in \['layers'\]\)"):
        store.read_table(path, IDS, {**META, "layers": (3,)})
    with pytest.raises(ValueError, match=r"t\.npz: 1 of 2 utterances missing, e.g. \['u9'\]"):
        store.read_table(path, ["u1", "u9"])
    with pytest.raises(ValueError, match="2 feature rows for 3 utterances"):
        store.write_table(path, IDS, np.zeros((2, 2)), META)
    path.write_bytes(path.read_bytes()[:100])  # truncated copy
    with pytest.raises(ValueError, match=r"t\.npz: not a readable feature table"):
        store.read_table(path, IDS)


def test_cache_computes_once_and_keys_on_meta_and_utterances(tmp_path):
    calls = []

    def compute(value):
        return lambda: calls.append(value) or np.full((len(IDS), 2), value)

    first = store.cached_table(tmp_path, "toy", IDS, META, compute(1.0))
    again = store.cached_table(tmp_path, "toy", IDS, META, compute(2.0))
    other = store.cached_table(tmp_path, "toy", IDS, {**META, "layers": (0,)}, compute(3.0))
    fewer = store.cached_table(tmp_path, "toy", IDS[:2], {**META, "layers": (0,)}, lambda: np.zeros((2, 2)))
    assert calls == [1.0, 3.0]
    assert first[0, 0] == again[0, 0] == 1.0 and other[0, 0] == 3.0 and len(fewer) == 2
    assert len(list(tmp_path.glob("toy-*.npz"))) == 3


def test_interrupted_write_leaves_no_complete_table(tmp_path, monkeypatch):
    real_savez = np.savez

    def killed_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed_savez)
    with pytest.raises(KeyboardInterrupt):
        store.cached_table(tmp_path, "toy", IDS, META, lambda: np.ones((3, 2)))
    assert list(tmp_path.iterdir()) == []
    # a writer killed outright (SIGKILL) leaves its temporary file behind: it must not count as a table
    (tmp_path / ".toy-0000.npz.123.tmp").write_bytes(b"PK\x03\x04 half a zip")
    monkeypatch.setattr(np, "savez", real_savez)
    table = store.cached_table(tmp_path, "toy", IDS, META, lambda: np.ones((3, 2)))
    np.testing.assert_array_equal(table, np.ones((3, 2)))


def test_digests_see_content(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    before = store.files_digest([a, b])
    assert store.files_digest([b, a]) != before
    b.write_bytes(b"tw0")
    assert store.files_digest([a, b]) != before
    assert store.digest({"x": 1}, ["u"]) != store.digest({"x": 1}, ["v"])
