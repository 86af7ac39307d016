"""`keras-vit list [PATTERN]`: zoo models with their parameter counts and descriptions."""

from absl import flags

flags.DEFINE_boolean("aliases", False, "Also print each model's aliases.")
FLAGS = flags.FLAGS


def main(argv):
    from keras_vit.spec import get_spec
    from keras_vit.zoo import list_models

    pattern = argv[1] if len(argv) > 1 else "*"
    names = list_models(pattern)
    if not names:
        raise SystemExit(f"No zoo model matches {pattern!r}; try `keras-vit list` for all of them.")
    width = max(len(name) for name in names)
    for name in names:
        spec = get_spec(name)
        params = f"{spec.expected_num_params / 1e6:8.2f}M" if spec.expected_num_params else " " * 9
        line = f"{name:<{width}} {spec.family:<9} {params}  {spec.description}"
        if FLAGS.aliases and spec.aliases:
            line += f"  (aliases: {', '.join(spec.aliases)})"
        print(line)
