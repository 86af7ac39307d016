"""The BiT release's `.npz` checkpoints (google-research/big_transfer: BiT-S/M-R50x1 ... R152x4) into the
`resnet_v2` family. Kernels are already (kh, kw, in, out); units are numbered with two digits.

    resnet/root_block/standardized_conv2d/kernel                   root/conv_root/kernel
    resnet/block{s}/unit{uu}/a/group_norm/gamma, beta              block{s}_unit{u}/gn1/gamma, beta
    resnet/block{s}/unit{uu}/a/standardized_conv2d/kernel          block{s}_unit{u}/conv1/kernel
    resnet/block{s}/unit{uu}/b/..., c/...                          gn2, conv2 / gn3, conv3
    resnet/block{s}/unit{uu}/a/proj/standardized_conv2d/kernel     block{s}_unit{u}/conv_proj/kernel
    resnet/group_norm/gamma, beta                                  norm/gamma, beta
    resnet/head/conv2d/kernel (1, 1, C, classes), bias             head/kernel (C, classes), head/bias

The BiT release pads its root convolution, max-pool and 3x3 convolutions with fixed symmetric zeros: the family's
padding="symmetric" (the BiT specs' setting); with padding="same" the weights load but the outputs differ slightly.
"""

from keras_vit.weights.protocol import Converter, Rule, match, reshape, resnet_units, split_block

_GROUP = {"1": "a", "2": "b", "3": "c"}


class BiTNpz(Converter):
    format = "bit_npz"
    output_axis = -1
    families = ("resnet_v2",)
    description = "BiT release .npz (resnet/root_block/standardized_conv2d, resnet/block1/unit01/a)"
    head = ("resnet/head/conv2d/kernel", "resnet/head/conv2d/bias")

    def claims(self, keys):
        return "resnet/root_block/standardized_conv2d/kernel" in keys

    def rule(self, path, model):
        if path == "root/conv_root/kernel":
            return Rule(("resnet/root_block/standardized_conv2d/kernel",))
        units = resnet_units(model)
        if (block := split_block(path, tuple(units))) and (m := match(r"(conv|gn)(\d|_proj)/(kernel|gamma|beta)", block[2])):
            stage, index = units[block[0]]
            unit = f"resnet/block{stage + 1}/unit{index + 1:02d}/"
            if m[2] == "_proj":
                return Rule((unit + "a/proj/standardized_conv2d/kernel",)) if m[1] == "conv" else None
            group = unit + _GROUP[m[2]] + "/"
            if m[1] == "conv":
                return Rule((group + "standardized_conv2d/kernel",))
            return Rule((group + "group_norm/" + m[3],))
        if m := match(r"norm/(gamma|beta)", path):
            return Rule((f"resnet/group_norm/{m[1]}",))
        if m := match(r"head/(kernel|bias)", path):
            return Rule((f"resnet/head/conv2d/{m[1]}",), reshape, "(1, 1, C, classes) -> (C, classes)")
        return None
