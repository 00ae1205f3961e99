"""wav2vec2 / HuBERT backbone in Flax linen, numerically equal to HF `transformers` (PyTorch).

Submodule and parameter names mirror the HF state dict (`encoder.layers.3.attention.q_proj.weight` is
`encoder/layers_3/attention/q_proj/kernel` here) so that checkpoint I/O is a renaming plus transposes.
Both variants are covered: "group" (wav2vec2-base: GroupNorm on the first conv, post-LN encoder) and
"layer" (large-lv60: LayerNorm convs, `do_stable_layer_norm` pre-LN encoder with final LN).

`config.compute_dtype="bfloat16"` is the flax examples' half precision: Dense/Conv/LayerNorm take
`dtype=bfloat16` with float32 params; normalisation statistics, the attention softmax and the returned
attention maps stay float32. Heads on top (param dtype float32, no `dtype`) promote back to float32.
"""

from __future__ import annotations

import functools
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from recovery_jax.models.config import Wav2Vec2Config, frame_mask as valid_frames
from recovery_jax.models.dropout import Dropout
from recovery_jax.models.spec_augment import span_mask

# torch.nn.LayerNorm / GroupNorm default, used by the conv stack whatever config.layer_norm_eps says.
TORCH_NORM_EPS = 1e-5

_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "swish": jax.nn.silu,
    "silu": jax.nn.silu,
}


def activation(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r}; expected one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


@struct.dataclass
class Wav2Vec2Output:
    last_hidden_state: jax.Array  # (B, T, H)
    extract_features: jax.Array  # (B, T, C) conv features after the projection's LayerNorm
    frame_mask: jax.Array  # (B, T) bool, valid frames
    hidden_states: Optional[jax.Array] = None  # (B, L + 1, T, H): encoder input, then each layer's output
    attentions: Optional[jax.Array] = None  # (B, L, heads, T, T)


def _torch_dense(features: int, name: str, use_bias: bool = True, dtype=None) -> nn.Dense:
    # HF initialises Linear weights N(0, 0.02) (config.initializer_range) with zero bias.
    return nn.Dense(features, use_bias=use_bias, name=name, dtype=dtype,
                    kernel_init=nn.initializers.normal(0.02), bias_init=nn.initializers.zeros)


class ConvLayer(nn.Module):
    """One conv block of the feature encoder: conv, optional norm, activation."""

    config: Wav2Vec2Config
    layer_id: int
    norm: Optional[str]  # None, "group" or "layer"
    groupnorm_over_padding: bool

    @nn.compact
    def __call__(self, x: jax.Array, valid: Optional[jax.Array]) -> jax.Array:
        cfg = self.config
        kernel, stride = cfg.conv_kernel[self.layer_id], cfg.conv_stride[self.layer_id]
        x = nn.Conv(cfg.conv_dim[self.layer_id], (kernel,), strides=(stride,), padding="VALID",
                    use_bias=cfg.conv_bias, name="conv", dtype=cfg.dtype,
                    kernel_init=nn.initializers.he_normal())(x)
        if self.norm == "layer":
            x = nn.LayerNorm(epsilon=TORCH_NORM_EPS, name="layer_norm", dtype=cfg.dtype)(x)
        elif self.norm == "group":
            x = MaskedGroupNorm(self.groupnorm_over_padding, name="layer_norm")(x, valid)
        return activation(cfg.feat_extract_activation)(x)


class MaskedGroupNorm(nn.Module):
    """GroupNorm with one group per channel: statistics over time.

    HF takes them over padding too, which makes a padded batch differ from single utterances; by
    default we use valid frames only. Computed in float32 whatever the input's dtype, returned in it.
    """

    over_padding: bool

    @nn.compact
    def __call__(self, x: jax.Array, valid: Optional[jax.Array]) -> jax.Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,))
        bias = self.param("bias", nn.initializers.zeros, (channels,))
        x, dtype = x.astype(jnp.float32), x.dtype
        if valid is None or self.over_padding:
            mean = x.mean(axis=1, keepdims=True)
            var = jnp.square(x - mean).mean(axis=1, keepdims=True)
        else:
            weight = valid[:, :, None].astype(x.dtype)
            count = jnp.maximum(weight.sum(axis=1, keepdims=True), 1.0)
            mean = (x * weight).sum(axis=1, keepdims=True) / count
            var = (jnp.square(x - mean) * weight).sum(axis=1, keepdims=True) / count
        return ((x - mean) * jax.lax.rsqrt(var + TORCH_NORM_EPS) * scale + bias).astype(dtype)


class FeatureEncoder(nn.Module):
    config: Wav2Vec2Config
    groupnorm_over_padding: bool = False

    @nn.compact
    def __call__(self, audio: jax.Array, sample_lengths: Optional[jax.Array]) -> jax.Array:
        cfg = self.config
        x = audio[:, :, None]
        conv_layer = nn.remat(ConvLayer) if cfg.remat == "layers_and_conv" else ConvLayer
        for i in range(len(cfg.conv_dim)):
            norm = cfg.feat_extract_norm if (cfg.feat_extract_norm == "layer" or i == 0) else None
            valid = None
            if norm == "group" and sample_lengths is not None:
                first_frames = (sample_lengths - cfg.conv_kernel[0]) // cfg.conv_stride[0] + 1
                num_first = (audio.shape[1] - cfg.conv_kernel[0]) // cfg.conv_stride[0] + 1
                valid = jnp.arange(num_first)[None, :] < first_frames[:, None]
            x = conv_layer(cfg, i, norm, self.groupnorm_over_padding, name=f"conv_layers_{i}")(x, valid)
        return x


class FeatureProjection(nn.Module):
    config: Wav2Vec2Config

    @nn.compact
    def __call__(self, features: jax.Array, deterministic: bool) -> tuple[jax.Array, jax.Array]:
        cfg = self.config
        if cfg.feat_proj_layer_norm:
            features = nn.LayerNorm(epsilon=cfg.layer_norm_eps, name="layer_norm", dtype=cfg.dtype)(features)
        hidden = _torch_dense(cfg.hidden_size, "projection", dtype=cfg.dtype)(features)
        hidden = Dropout(cfg.feat_proj_dropout)(hidden, deterministic=deterministic)
        return hidden, features


def _grouped_conv(x: jax.Array, kernel: jax.Array, groups: int) -> jax.Array:
    k = kernel.shape[0]
    return jax.lax.conv_general_dilated(x, kernel, window_strides=(1,), padding=[(k // 2, k // 2)],
                                        dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=groups)


# Kernel taps per matmul in the kernel gradient: bounds its patch buffer to TAPS x the input.
_KERNEL_GRAD_TAPS = 8


def _grouped_conv_kernel_grad(x: jax.Array, dy: jax.Array, k: int, groups: int) -> jax.Array:
    """d loss / d kernel (k, in / groups, out) as matmuls over shifted copies of the padded input."""
    b, t_out, c_out = dy.shape
    c_in = x.shape[-1]
    padded = jnp.pad(x, ((0, 0), (k // 2, k // 2), (0, 0)))
    dy = dy.reshape(b, t_out, groups, c_out // groups)
    chunks = []
    for start in range(0, k, _KERNEL_GRAD_TAPS):
        taps = range(start, min(start + _KERNEL_GRAD_TAPS, k))
        shifted = jnp.stack([padded[:, j:j + t_out] for j in taps], axis=2)
        shifted = shifted.reshape(b, t_out, len(taps), groups, c_in // groups)
        chunks.append(jnp.einsum("btjgi,btgo->jigo", shifted, dy).reshape(len(taps), c_in // groups, c_out))
    return jnp.concatenate(chunks)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def grouped_conv_same(x: jax.Array, kernel: jax.Array, groups: int) -> jax.Array:
    """"same"-padded grouped conv, x (B, T, C) NWC, kernel (K, C / groups, out) WIO.

    Differentiated by hand for the kernel: XLA's CPU backend runs the grouped backward-filter conv ~60x
    slower than the forward (2.9 s against 45 ms for wav2vec2-base's positional conv on 4 x 4 s), the
    shifted-copy matmuls below take ~0.1 s.
    """
    return _grouped_conv(x, kernel, groups)


def _grouped_conv_fwd(x, kernel, groups):
    return _grouped_conv(x, kernel, groups), (x, kernel)


def _grouped_conv_bwd(groups, residuals, dy):
    x, kernel = residuals
    dx = jax.vjp(lambda x: _grouped_conv(x, kernel, groups), x)[1](dy)[0]
    return dx, _grouped_conv_kernel_grad(x, dy, kernel.shape[0], groups)


grouped_conv_same.defvjp(_grouped_conv_fwd, _grouped_conv_bwd)


class WeightNormConv(nn.Module):
    """Grouped "same" conv with torch `weight_norm(dim=2)`: weight = g * v / ||v||, per kernel tap.

    The weight is normalised in float32, the conv computed in the input's dtype.
    """

    features: int
    kernel_size: int
    groups: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        std = 2.0 * (1.0 / (k * self.features)) ** 0.5
        weight_v = self.param("weight_v", nn.initializers.normal(std),
                              (k, x.shape[-1] // self.groups, self.features))
        weight_g = self.param("weight_g", lambda key, shape: jnp.sqrt(
            jnp.square(weight_v).sum(axis=(1, 2))), (k,))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        norm = jnp.sqrt(jnp.square(weight_v).sum(axis=(1, 2), keepdims=True))
        kernel = weight_g[:, None, None] * weight_v / norm
        return grouped_conv_same(x, kernel.astype(x.dtype), self.groups) + bias.astype(x.dtype)


class PositionalConvEmbedding(nn.Module):
    config: Wav2Vec2Config

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        k = cfg.num_conv_pos_embeddings
        y = WeightNormConv(cfg.hidden_size, k, cfg.num_conv_pos_embedding_groups, name="conv")(x)
        if k % 2 == 0:  # HF SamePad: an even kernel yields one frame too many
            y = y[:, :-1]
        return activation(cfg.feat_extract_activation)(y)


class Attention(nn.Module):
    config: Wav2Vec2Config

    @nn.compact
    def __call__(self, x: jax.Array, key_mask: Optional[jax.Array], deterministic: bool
                 ) -> tuple[jax.Array, jax.Array]:
        cfg = self.config
        b, t, _ = x.shape
        heads, head_dim = cfg.num_attention_heads, cfg.head_dim

        def split(y):
            return y.reshape(b, t, heads, head_dim)

        # Scaling q (B x T x C) instead of the scores (B x H x T x T): exact when head_dim is a power of 4, as in
        # wav2vec2-base/large (64) and the tiny preset (16); else within a rounding of HF's order
        q = split(_torch_dense(cfg.hidden_size, "q_proj", dtype=cfg.dtype)(x) * head_dim ** -0.5)
        k = split(_torch_dense(cfg.hidden_size, "k_proj", dtype=cfg.dtype)(x))
        v = split(_torch_dense(cfg.hidden_size, "v_proj", dtype=cfg.dtype)(x))
        # Softmax and the returned maps in float32 (flax's force_fp32_for_softmax).
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32)
        if key_mask is not None:  # HF's additive mask: no select over the (B, H, T, T) maps and their gradient
            scores = scores + jnp.where(key_mask, 0.0, jnp.finfo(scores.dtype).min)[:, None, None, :]
        probs = jax.nn.softmax(scores, axis=-1)
        dropped = Dropout(cfg.attention_dropout)(probs, deterministic=deterministic)
        out = jnp.einsum("bhqk,bkhd->bqhd", dropped.astype(v.dtype), v).reshape(b, t, cfg.hidden_size)
        return _torch_dense(cfg.hidden_size, "out_proj", dtype=cfg.dtype)(out), probs


class FeedForward(nn.Module):
    config: Wav2Vec2Config

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        cfg = self.config
        x = _torch_dense(cfg.intermediate_size, "intermediate_dense", dtype=cfg.dtype)(x)
        x = activation(cfg.hidden_act)(x)
        x = Dropout(cfg.activation_dropout)(x, deterministic=deterministic)
        x = _torch_dense(cfg.hidden_size, "output_dense", dtype=cfg.dtype)(x)
        return Dropout(cfg.hidden_dropout)(x, deterministic=deterministic)


class EncoderLayer(nn.Module):
    config: Wav2Vec2Config

    @nn.compact
    def __call__(self, x: jax.Array, key_mask: Optional[jax.Array], deterministic: bool
                 ) -> tuple[jax.Array, jax.Array]:
        cfg = self.config
        attention = Attention(cfg, name="attention")
        layer_norm = nn.LayerNorm(epsilon=cfg.layer_norm_eps, name="layer_norm", dtype=cfg.dtype)
        final_layer_norm = nn.LayerNorm(epsilon=cfg.layer_norm_eps, name="final_layer_norm", dtype=cfg.dtype)
        feed_forward = FeedForward(cfg, name="feed_forward")
        dropout = Dropout(cfg.hidden_dropout)
        if cfg.do_stable_layer_norm:
            attended, probs = attention(layer_norm(x), key_mask, deterministic)
            x = x + dropout(attended, deterministic=deterministic)
            x = x + feed_forward(final_layer_norm(x), deterministic)
        else:
            attended, probs = attention(x, key_mask, deterministic)
            x = layer_norm(x + dropout(attended, deterministic=deterministic))
            x = final_layer_norm(x + feed_forward(x, deterministic))
        return x, probs


class Encoder(nn.Module):
    config: Wav2Vec2Config

    def setup(self):
        cfg = self.config
        self.pos_conv_embed = PositionalConvEmbedding(cfg)
        self.layer_norm = nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=cfg.dtype)
        self.dropout = Dropout(cfg.hidden_dropout)
        # Argument 3 of EncoderLayer.__call__ (self counts) is `deterministic`, a Python bool.
        layer = nn.remat(EncoderLayer, static_argnums=(3,)) if cfg.remat != "none" else EncoderLayer
        self.layers = [layer(cfg) for _ in range(cfg.num_hidden_layers)]

    def embed(self, x: jax.Array, frame_mask: Optional[jax.Array], deterministic: bool) -> jax.Array:
        """The first layer's input: padding zeroed, positional conv added, normalised (post-LN variant)."""
        if frame_mask is not None:
            x = jnp.where(frame_mask[:, :, None], x, 0.0)
        x = x + self.pos_conv_embed(x)
        if not self.config.do_stable_layer_norm:
            x = self.layer_norm(x)
        return self.dropout(x, deterministic=deterministic)

    def _layerdrop(self, deterministic: bool) -> Optional[jax.Array]:
        """(L,) bool, layers skipped this step (HF LayerDrop: one draw per layer for the whole batch), or None.

        A skipped layer passes its input on (its hidden state repeats it, as in transformers v4; v5 leaves it
        out, which a fixed shape cannot) with zero attention maps. Selected, not branched, so the step stays
        one program under pmap/vmap; its parameters get a zero gradient (torch: none, so torch's Adam skips
        them that step while ours still applies their momentum).
        """
        cfg = self.config
        if deterministic or cfg.layerdrop <= 0.0:
            return None
        skip = jax.random.uniform(self.make_rng("dropout"), (cfg.num_hidden_layers,)) < cfg.layerdrop
        self.sow("intermediates", "layerdrop_skip", skip)
        return skip

    def __call__(self, x: jax.Array, frame_mask: Optional[jax.Array], deterministic: bool
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
        x = self.embed(x, frame_mask, deterministic)
        hidden_states, attentions = [x], []
        skip = self._layerdrop(deterministic)
        for i, layer in enumerate(self.layers):
            y, probs = layer(x, frame_mask, deterministic)
            if skip is not None:
                y, probs = jnp.where(skip[i], x, y), jnp.where(skip[i], 0.0, probs)
            x = y
            hidden_states.append(x)
            attentions.append(probs)
        if self.config.do_stable_layer_norm:
            x = self.layer_norm(x)
        return x, jnp.stack(hidden_states, axis=1), jnp.stack(attentions, axis=1)


class Wav2Vec2Model(nn.Module):
    """The backbone. `groupnorm_over_padding=True` reproduces HF's padded-batch GroupNorm exactly."""

    config: Wav2Vec2Config
    groupnorm_over_padding: bool = False

    def setup(self):
        cfg = self.config
        self.feature_extractor = FeatureEncoder(cfg, self.groupnorm_over_padding)
        self.feature_projection = FeatureProjection(cfg)
        self.encoder = Encoder(cfg)
        self.masked_spec_embed = self.param("masked_spec_embed", nn.initializers.uniform(1.0),
                                            (cfg.hidden_size,))

    def extract_conv_features(self, audio: jax.Array, sample_lengths: Optional[jax.Array] = None
                              ) -> jax.Array:
        """(B, T, C) output of the conv stack, before the projection."""
        return self.feature_extractor(audio, sample_lengths)

    def _projected(self, audio: jax.Array, sample_lengths: Optional[jax.Array], deterministic: bool,
                   conv_features: Optional[jax.Array]) -> tuple[jax.Array, jax.Array, Optional[jax.Array]]:
        if conv_features is None:
            conv_features = self.extract_conv_features(audio, sample_lengths)
        frame_mask = None
        if sample_lengths is not None:
            frame_mask = valid_frames(self.config, sample_lengths, conv_features.shape[1])
        hidden, extract_features = self.feature_projection(conv_features, deterministic)
        return hidden, extract_features, frame_mask

    def __call__(self, audio: jax.Array, sample_lengths: Optional[jax.Array] = None, *,
                 mask_time_indices: Optional[jax.Array] = None, output_hidden_states: bool = False,
                 output_attentions: bool = False, deterministic: bool = True,
                 conv_features: Optional[jax.Array] = None) -> Wav2Vec2Output:
        """audio (B, samples) float32; sample_lengths (B,) or None for "all samples valid, no mask".

        Hidden states come in `config.compute_dtype`, attention maps in float32.

        `conv_features` skips the conv stack (the frozen encoder's output, computed once upstream).
        Training mode (`deterministic=False`, rng "dropout") applies the config's SpecAugment masks and LayerDrop.
        """
        hidden, extract_features, frame_mask = self._projected(audio, sample_lengths, deterministic, conv_features)
        hidden = self._mask_hidden_states(hidden, frame_mask, mask_time_indices, deterministic)
        last, hidden_states, attentions = self.encoder(hidden, frame_mask, deterministic)
        if frame_mask is None:
            frame_mask = jnp.ones(last.shape[:2], bool)
        return Wav2Vec2Output(
            last_hidden_state=last, extract_features=extract_features, frame_mask=frame_mask,
            hidden_states=hidden_states if output_hidden_states else None,
            attentions=attentions if output_attentions else None)

    def _mask_hidden_states(self, hidden: jax.Array, frame_mask: Optional[jax.Array],
                            mask_time_indices: Optional[jax.Array], deterministic: bool) -> jax.Array:
        """HF `_mask_hidden_states`: given time masks, or in training ones drawn per the config, replace frames
        with `masked_spec_embed`; in training, feature masks zero channels. Padding frames are never drawn."""
        cfg = self.config
        if not cfg.apply_spec_augment:
            return hidden
        b, t, h = hidden.shape
        if mask_time_indices is None and not deterministic and cfg.mask_time_prob > 0:
            frames = jnp.full((b,), t) if frame_mask is None else frame_mask.sum(-1)
            mask_time_indices = span_mask(self.make_rng("dropout"), frames, t, cfg.mask_time_prob,
                                          cfg.mask_time_length, cfg.mask_time_min_masks)
            self.sow("intermediates", "mask_time_indices", mask_time_indices)
        if mask_time_indices is not None:
            hidden = jnp.where(mask_time_indices[:, :, None], self.masked_spec_embed.astype(hidden.dtype), hidden)
        if not deterministic and cfg.mask_feature_prob > 0:
            channels = span_mask(self.make_rng("dropout"), jnp.full((b,), h), h, cfg.mask_feature_prob,
                                 cfg.mask_feature_length, cfg.mask_feature_min_masks)
            self.sow("intermediates", "mask_feature_indices", channels)
            hidden = jnp.where(channels[:, None, :], 0.0, hidden)
        return hidden

    def encoder_input(self, audio: jax.Array, sample_lengths: jax.Array, *,
                      conv_features: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
        """(the first encoder layer's input (B, T, H), (B, T) frame mask), deterministic.

        For callers that run the layers one by one (`encoder/layers_i` params applied to an `EncoderLayer`)
        to reduce each layer's output before the next is made.
        """
        hidden, _, frame_mask = self._projected(audio, sample_lengths, True, conv_features)
        return self.encoder.embed(hidden, frame_mask, True), frame_mask
