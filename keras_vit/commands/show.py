"""`keras-vit show MODEL [--override key=value ...]`: the resolved spec, the published weights (tags, with their
ImageNet top-1) and the Keras summary of a model."""

import yaml
from absl import flags

from keras_vit.commands import common

flags.DEFINE_multi_string("override", [], "A model hyperparameter override, key=value (value parsed as YAML).")
flags.DEFINE_boolean("tiny", False, "Start from the spec's tiny test size (overrides apply on top).")
flags.DEFINE_boolean("summary", True, "Build the model and print its Keras summary.")
FLAGS = flags.FLAGS


def main(argv):
    from keras_vit.registry import registry
    from keras_vit.spec import SpecError, get_spec
    from keras_vit.weights import get_weights_entry, list_weights
    from keras_vit.zoo import create

    if len(argv) != 2:
        raise SystemExit("usage: keras-vit show MODEL [--override key=value ...] (see `keras-vit list`)")
    try:
        spec = get_spec(argv[1])
        spec = (spec.tiny_spec() if FLAGS.tiny else spec).with_overrides(**common.parse_overrides(FLAGS.override, "show"))
    except SpecError as error:
        common.fail("show", error)
    data = spec.to_dict()
    # Every hyperparameter and slot, the family's defaults included: what the model is built from.
    family = registry("model").get(spec.family)
    model = {k: v for k, v in {**family.config_defaults(), **data["model"]}.items() if k not in ("name", "dtype")}
    for key, slot in getattr(family, "SLOTS", {}).items():
        if isinstance(model[key], dict) and "name" not in model[key]:
            model[key] = {"name": slot.default, **model[key]}
    data["model"] = model
    print(yaml.safe_dump(data, sort_keys=False).rstrip())
    for tag in list_weights(spec.name):  # keras_vit.create(NAME, weights=TAG) loads them
        entry = get_weights_entry(tag)
        top1 = f"{entry.accuracy['imagenet_top1']:.2f}" if entry.accuracy else "-"
        print(f"weights {tag}: {entry.image_size}px, {entry.num_classes} classes, ImageNet top-1 {top1}"
              f"{f' (timm {entry.timm})' if entry.timm else ''}")
    if FLAGS.summary:
        model = create(spec)
        model.summary(line_length=110)
        print(f"parameters: {model.count_params():,}")
