import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recovery_jax.data import batch_iterator, bucket_length


def _clips(n=37, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(int(k)).astype(np.float32) for k in rng.integers(400, 48000, n)], rng.integers(0, 4, n)


def test_layout_padding_and_filler_rows():
    waves, labels = _clips()
    batches = list(batch_iterator(waves, labels, batch_size=8, num_devices=2))
    assert len(batches) == 5
    seen = []
    for b in batches:
        t = b["audio"].shape[-1]
        assert b["audio"].shape == (2, 4, t) and b["audio"].dtype == np.float32 and t % 16000 == 0
        for key, dtype in (("lengths", np.int32), ("labels", np.int32), ("weights", np.float32), ("index", np.int32)):
            assert b[key].shape == (2, 4) and b[key].dtype == dtype
        for row, i in zip(b["audio"].reshape(8, t), b["index"].ravel()):
            if i >= 0:
                np.testing.assert_array_equal(row[:len(waves[i])], waves[i])
                assert not row[len(waves[i]):].any()
        real = b["index"] >= 0
        np.testing.assert_array_equal(b["weights"], real.astype(np.float32))
        np.testing.assert_array_equal(b["labels"][real], labels[b["index"][real]])
        assert (b["lengths"] > 0).all()  # filler rows are real clips too, never empty
        seen += b["index"][real].tolist()
    assert sorted(seen) == list(range(37))
    assert batches[-1]["weights"].sum() == 5


def test_drop_remainder_shuffle_and_no_labels():
    waves, _ = _clips()
    batches = list(batch_iterator(waves, None, 8, drop_remainder=True, shuffle=True, seed=1))
    assert len(batches) == 4 and "labels" not in batches[0]
    assert all(b["weights"].all() for b in batches)

    def order(seed):
        return np.concatenate([b["index"].ravel() for b in batch_iterator(waves, None, 8, shuffle=True, seed=seed)])

    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))


def test_buckets():
    assert bucket_length(1, 16000) == 16000 and bucket_length(16001, 16000) == 32000
    assert bucket_length(20000, [16000, 32000, 64000]) == 32000
    with pytest.raises(ValueError, match="largest bucket"):
        bucket_length(70000, [16000, 32000, 64000])
    with pytest.raises(ValueError, match="divisible"):
        next(batch_iterator(*_clips(), batch_size=5, num_devices=2))


def test_group_by_length_pads_less():
    waves, labels = _clips(64)
    padded = lambda **kw: sum(b["audio"].size for b in batch_iterator(waves, labels, 8, **kw))  # noqa: E731
    assert padded(group_by_length=True, shuffle=True) < padded(shuffle=True)


def test_schedule_seed_aligns_buckets_across_seeds():
    waves, labels = _clips(64)

    def run(seed, **kw):
        batches = list(batch_iterator(waves, labels, 8, bucket_multiple=8000, shuffle=True, seed=seed,
                                      group_by_length=True, **kw))
        return [b["audio"].shape[-1] for b in batches], np.concatenate([b["index"].ravel() for b in batches])

    (widths_a, clips_a), (widths_b, clips_b) = run(1, schedule_seed=7), run(2, schedule_seed=7)
    assert widths_a == widths_b  # one bucket per step for both runs: their joint batch pads to it
    assert not np.array_equal(clips_a, clips_b)  # but each run's seed still picks the clips
    assert run(1)[0] != run(2)[0]  # without it the runs' bucket orders differ


def test_pmapped_step_compiles_once_per_bucket_whatever_the_corpus():
    traces = []

    @jax.pmap
    def step(audio, lengths, weights):
        traces.append(audio.shape)
        mask = jnp.arange(audio.shape[-1]) < lengths[:, None]
        return jnp.sum(weights * jnp.sum(jnp.where(mask, audio, 0.0), axis=-1) / lengths)

    buckets = [8000, 24000, 48000]
    for seed in range(3):  # three corpora of different sizes and lengths, one step function
        waves, labels = _clips(20 + 17 * seed, seed)
        for b in batch_iterator(waves, labels, 4, num_devices=2, bucket_multiple=buckets, shuffle=True, seed=seed):
            assert np.isfinite(np.asarray(step(b["audio"], b["lengths"], b["weights"]))).all()
    assert len(traces) <= len(buckets) and len(set(traces)) == len(traces)
