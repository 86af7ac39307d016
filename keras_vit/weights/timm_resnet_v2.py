"""timm's ResNetV2 state dicts (BiT ResNets `resnetv2_*_bit`, and the ResNet stems of timm's ViT hybrids).

timm key -> keras_vit path (BiT release unit names; stages and units are 1-based in Keras, 0-based in timm):

    stem.conv.weight                               root/conv_root/kernel          conv (out,in,kh,kw)->(kh,kw,in,out)
    stem.norm.weight / .bias                       root/gn_root/gamma / beta      (post-activation ResNets only)
    stages.{s}.blocks.{u}.conv{n}.weight           block{s+1}_unit{u+1}/conv{n}/kernel   conv
    stages.{s}.blocks.{u}.norm{n}.weight / .bias   block{s+1}_unit{u+1}/gn{n}/gamma / beta
    stages.{s}.blocks.{u}.downsample.conv.weight   block{s+1}_unit{u+1}/conv_proj/kernel  conv
    stages.{s}.blocks.{u}.downsample.norm.*        block{s+1}_unit{u+1}/gn_proj/*
    norm.weight / .bias                            norm/gamma / beta              (pre-activation ResNets)
    head.fc.weight (classes, C, 1, 1) / .bias      head/kernel (C, classes) / head/bias
"""

from keras_vit.weights import protocol
from keras_vit.weights.protocol import TORCH_NORM as _NORM
from keras_vit.weights.protocol import Converter, Rule, conv, dense_from_conv1x1, match, torch_param


def resnet_rule(path, prefix, stem_prefixes, units):
    """The Rule of a ResNet variable `path` (relative to the ResNet), reading timm keys under `prefix`.
    `stem_prefixes` lists where the root conv/norm may live ("stem." in ResNetV2, "" in a bare timm stem); `units`
    maps the unit layers' names to their (stage, unit) (`resnet_units`)."""
    if path == "root/conv_root/kernel":
        return protocol.first_of([[f"{prefix}{s}conv.weight"] for s in stem_prefixes], conv, "conv")
    if m := match(r"root/gn_root/(gamma|beta)", path):
        return protocol.first_of([[f"{prefix}{s}norm.{_NORM[m[1]]}"] for s in stem_prefixes])
    if block := protocol.split_block(path, tuple(units)):
        stage, index = units[block[0]]
        unit = f"{prefix}stages.{stage}.blocks.{index}."
        if m := match(r"(conv\d|conv_proj)/kernel", block[2]):
            return Rule((f"{unit}{'downsample.conv' if m[1] == 'conv_proj' else m[1]}.weight",), conv, "conv")
        if m := match(r"(gn\d|gn_proj)/(gamma|beta)", block[2]):
            name = "downsample.norm" if m[1] == "gn_proj" else "norm" + m[1][2:]
            return Rule((f"{unit}{name}.{_NORM[m[2]]}",))
    if m := match(r"norm/(gamma|beta)", path):
        return Rule((f"{prefix}norm.{_NORM[m[1]]}",))
    return None


class TimmResNetV2(Converter):
    """timm's `resnetv2_*` state dicts (BiT-S/M R50x1 ... R152x4) into the `resnet_v2` family."""

    format = "timm_resnetv2"
    families = ("resnet_v2",)
    description = "timm ResNetV2 / BiT state dict (stem.conv, stages.N.blocks.M.conv1, head.fc)"
    head = ("head.fc.weight", "head.fc.bias")

    def claims(self, keys):
        return "stem.conv.weight" in keys and any(k.startswith("stages.") for k in keys)

    def rule(self, path, model):
        if m := match(r"head/(kernel|bias)", path):
            return torch_param("head.fc", m[1], dense_from_conv1x1, "(classes, C[, 1, 1]) -> (C, classes)")
        return resnet_rule(path, "", ("stem.",), protocol.resnet_units(model))
