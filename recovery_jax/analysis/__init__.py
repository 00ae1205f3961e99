"""How two systems differ (paper Sec. V): decisions, embeddings, attention maps, layer CKA, figures."""

from recovery_jax.analysis.attention import attention_distance_sums, bhattacharyya_rows
from recovery_jax.analysis.batches import bucketed_batches
from recovery_jax.analysis.bootstrap import beyond_floor, uar_interval
from recovery_jax.analysis.cka import (CKAState, cka_init, cka_result, cka_update, hsic_unbiased, mean_pool,
                                       pooled_cka)
from recovery_jax.analysis.cosine import (PAPER_THRESHOLDS, ThresholdAgreement, cosine_distances, histogram_curve,
                                          threshold_agreement)
from recovery_jax.analysis.decisions import match_percent, mismatch_percent
from recovery_jax.analysis.figures import plot_attention_distances, plot_cka, plot_cosine_histograms
from recovery_jax.analysis.systems import (attention_distances, attention_distances_per_utterance, layer_cka,
                                           load_stacked, make_attention_distance_fn,
                                           make_cka_update_fn, shares_conv_stack, stack_params)
