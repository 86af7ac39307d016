"""LoRA fine-tuning through Keras's own `enable_lora` on the Dense layers of a zoo model's blocks.

Keras 3.15's `Dense.enable_lora(rank, lora_alpha)` freezes the kernel and adds float32 `lora_kernel_a` (in, rank;
he_uniform) and `lora_kernel_b` (rank, out; zeros): kernel + (alpha / rank) A B, so a fresh adapter changes nothing.
Keras also merges the adapters into the kernel whenever it saves weights (`save_own_variables`), which `merge_lora`
uses. A target is named by where its layer sits inside a block of `model.layout.blocks`: "attention/qkv",
"attention/projection", "mlp/fc1", "mlp/fc2" (TNT: "inner_block/attention/qkv", "pixel_projection/projection", ...);
a target matches that path or its tail ("qkv" is every qkv projection; "proj", timm's name, is "projection").
"""

import json
from types import MappingProxyType

import numpy as np

from keras_vit.compat import nested_layers
from keras_vit.models.layout import model_layout
from keras_vit.registry import registry

# timm's and PEFT's name for the attention output projection.
TARGET_ALIASES = {"proj": "projection"}


def _roles(model):
    """{path inside its block: [layers]} of every layer in the blocks that Keras can adapt (Dense, EinsumDense)."""
    roles = {}
    for block in map(model.get_layer, model_layout(model, "enable_lora").blocks):
        for layer in nested_layers(block):
            if hasattr(layer, "enable_lora") and layer is not block:
                roles.setdefault(layer.path[len(block.path) + 1:], []).append(layer)
    return roles


def _architecture(model):
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    return json.loads(json.dumps(config, default=str))


def enable_lora(model, rank=8, alpha=None, targets=("qkv",), train_norms=False):
    """Adds LoRA adapters to `model`'s targeted Dense layers in place and freezes everything else but the head.

    Args:
        model: a float zoo model (not quantized).
        rank: int > 0, the adapters' rank r.
        alpha: the adapters' scale is alpha / rank; None: alpha = rank (scale 1, Keras's default).
        targets: layer paths inside a block, or their tails (see the module docstring).
        train_norms: also keep every normalization layer's scale and offset trainable.

    Returns:
        `model`, whose trainable variables are now the adapters (r * (in + out) per targeted layer), the classifier
        head (and pre-logits) and, with train_norms, the norms. `model.lora_config` holds the arguments.
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ValueError(f"enable_lora: `rank` must be an integer > 0; received {rank!r}.")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0):
        raise ValueError(f"enable_lora: `alpha` must be a number > 0 or None; received {alpha!r}.")
    if any(layer.quantization_mode for layer in nested_layers(model)):
        raise ValueError(f"enable_lora: model {model.name!r} is quantized, and merged adapters would be quantized "
                         "again: fine-tune the float model, merge_lora, then quantize.")
    if getattr(model, "lora_config", None):
        raise ValueError(f"enable_lora: model {model.name!r} has LoRA enabled already ({dict(model.lora_config)}).")
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    targets = tuple(TARGET_ALIASES.get(t, t) for t in targets)
    roles = _roles(model)
    chosen = {t: [r for r in roles if r == t or r.endswith("/" + t)] for t in targets}
    unmatched = [t for t, matched in chosen.items() if not matched]
    if unmatched or not targets:
        raise ValueError(f"enable_lora: target(s) {unmatched or targets!r} match no layer of {model.name!r}; its "
                         f"targets are {sorted(roles)} (or their last parts, e.g. 'qkv').")
    keep = {*model.layout.head_variables, *model.layout.pre_logits_variables}
    if train_norms:
        norms = tuple(registry("norm").get(name) for name in registry("norm").names())
        keep |= {v.path for layer in nested_layers(model) if isinstance(layer, norms) for v in layer.weights}
    for variable in model.weights:
        variable.trainable = variable.trainable and variable.path in keep
    for layer in {id(layer): layer for matched in chosen.values() for r in matched for layer in roles[r]}.values():
        layer.enable_lora(rank, lora_alpha=alpha)
    model.lora_config = MappingProxyType({"rank": rank, "alpha": alpha, "targets": list(targets),
                                          "train_norms": bool(train_norms)})
    return model


def save_adapters(model, path):
    """Writes `model`'s trainable variables after `enable_lora` (adapters, head, norms) to an .npz file, with the
    LoRA arguments and the architecture they belong to."""
    if not getattr(model, "lora_config", None):
        raise ValueError(f"save_adapters: model {model.name!r} has no LoRA adapters: call enable_lora first.")
    header = json.dumps({"lora": dict(model.lora_config), "architecture": _architecture(model)})
    np.savez(path, __header__=np.array(header), **{v.path: np.asarray(v) for v in model.trainable_weights})


def load_adapters(model, path):
    """Loads adapters written by `save_adapters` onto a base `model` of the same architecture (enabling LoRA on it
    with the saved arguments when it has none). Returns `model`."""
    with np.load(path, allow_pickle=False) as saved:
        header, values = json.loads(str(saved["__header__"])), {k: saved[k] for k in saved.files if k != "__header__"}
    own = _architecture(model)
    differing = [f"{key}: {header['architecture'].get(key)!r} in the file, {own.get(key)!r} here"
                 for key in sorted(set(own) | set(header["architecture"])) if own.get(key) != header["architecture"].get(key)]
    if differing:
        raise ValueError(f"load_adapters: {path} holds adapters of another architecture than {model.name!r} "
                         f"({'; '.join(differing)}): load them onto the model they were trained from.")
    if getattr(model, "lora_config", None) is None:
        enable_lora(model, **header["lora"])
    elif dict(model.lora_config) != header["lora"]:
        raise ValueError(f"load_adapters: model {model.name!r} has LoRA {dict(model.lora_config)}, the file "
                         f"{header['lora']}: load onto a base model without LoRA.")
    variables = {v.path: v for v in model.trainable_weights}
    if set(variables) != set(values):
        raise ValueError(f"load_adapters: {path} does not match {model.name!r}'s adapters: missing "
                         f"{sorted(set(variables) - set(values))}, unexpected {sorted(set(values) - set(variables))}.")
    for name, variable in variables.items():
        variable.assign(values[name])
    return model


def merge_lora(model):
    """A new plain zoo model (no adapters, every variable trainable) whose kernels are kernel + (alpha / rank) A B:
    it computes what `model` computes and exports like any zoo model."""
    merged = type(model).from_config(model.get_config())
    for source, target in zip(nested_layers(model), nested_layers(merged), strict=True):
        store = {}
        source.save_own_variables(store)  # a LoRA layer stores its merged kernel (Keras's own save path)
        target.load_own_variables(store)
    return merged
