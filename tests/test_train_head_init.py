"""LP-FT's first stage: the SER head fitted on pooled states is the head the network applies."""

import jax
import numpy as np

from recovery_jax.embed.extract import layer_embeddings
from recovery_jax.train.head_init import fit_ser_head, head_logits
from recovery_jax.train.loop import predict
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, tone_examples

SER = get_task("ser")


def test_fitted_head_is_the_networks_head_and_separates_the_classes():
    params = jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))
    data = tone_examples(32)
    pooled = layer_embeddings(MICRO, params["backbone"], data.waveforms, layers=(MICRO.num_hidden_layers,))[:, 0]
    fitted = fit_ser_head(params, pooled, data.labels, steps=500, lr=1e-2)
    for key in ("backbone",):  # only the head moves
        for a, b in zip(jax.tree.leaves(fitted[key]), jax.tree.leaves(params[key])):
            np.testing.assert_array_equal(a, b)
    # the network's own logits on audio equal the head on the pooled states (pooling commutes with the projector)
    logits = np.asarray(predict(SER, MICRO, fitted, data, 8, 12000)["logits"])
    np.testing.assert_allclose(logits, np.asarray(head_logits(fitted, pooled)), rtol=1e-4, atol=1e-4)
    before = (np.argmax(np.asarray(head_logits(params, pooled)), -1) == data.labels).mean()
    after = (np.argmax(logits, -1) == data.labels).mean()
    assert after >= 0.9 > before
