"""`keras-vit list [PATTERN]`: zoo models with their parameter counts and descriptions."""

from absl import flags

flags.DEFINE_boolean("aliases", False, "Also print each model's aliases.")
FLAGS = flags.FLAGS


def main(argv):
    import keras_vit

    pattern = argv[1] if len(argv) > 1 else "*"
    names = keras_vit.list_models(pattern)
    if not names:
        raise SystemExit(f"No zoo model matches {pattern!r}; try `keras-vit list` for all of them.")
    width = max(len(name) for name in names)
    for name in names:
        spec = keras_vit.get_spec(name)
        params = f"{spec.expected_num_params / 1e6:8.2f}M" if spec.expected_num_params else " " * 9
        line = f"{name:<{width}} {spec.family:<9} {params}  {spec.description}"
        if FLAGS.aliases and spec.aliases:
            line += f"  (aliases: {', '.join(spec.aliases)})"
        print(line)
