"""`keras-vit explain IMAGE... --model NAME|FILE.keras [--weights PATH] [--figures] --output_dir DIR`: PNG overlays
of where a model looks (per-head attention of the token the classifier reads, and attention rollout) for every
image, and with --figures the papers' figures of the model (see docs/explain.md).
"""

import functools
import os

from absl import flags

from keras_vit.commands import common

flags.DEFINE_string("model", None, "A zoo model name or alias (vit_b16), or a saved .keras model (a training run's "
                    "model.keras).")
flags.DEFINE_string("weights", None, "For --model NAME: a checkpoint keras_vit.create reads (.npz, .safetensors, .pth, "
                    ".weights.h5, .keras). Without it the weights are random.")
flags.DEFINE_multi_string("override", [], "For --model NAME: a hyperparameter override, key=value (value as YAML).")
flags.DEFINE_string("output_dir", None, "Folder for the PNG files (created if missing).")
flags.DEFINE_boolean("figures", False, "Also write the model's figures: position-embedding similarity, embedding "
                     "filters, mean attention distance, a t-SNE of the --block's patch tokens, and TNT's feature maps.")
flags.DEFINE_integer("block", -1, "The block whose per-head attention is shown (negative counts from the end).")
flags.DEFINE_list("mean", None, "Pixel normalization mean of the weights, one value or one per channel (default 0.5, "
                  "the zoo's published weights).")
flags.DEFINE_list("std", None, "Pixel normalization std, likewise (default 0.5).")
flags.DEFINE_integer("batch_size", 16, "Images per step.")
FLAGS = flags.FLAGS

USAGE = "usage: keras-vit explain IMAGE... --model NAME|FILE.keras [--weights PATH] [--figures] --output_dir DIR"
_fail = functools.partial(common.fail, "explain")


def _floats(name, values):
    if values is None:
        return None
    try:
        return [float(value) for value in values]
    except ValueError:
        _fail(f"--{name} takes numbers separated by commas; received {','.join(values)!r}.")


def read_images(paths, model):
    """The images as the model saw them ([0, 1] pixels at its size, for the figures) and its normalized inputs,
    both (batch, H, W, C)."""
    import numpy as np
    import tensorflow as tf

    from keras_vit.preprocessing import preprocessing

    try:
        prepare = preprocessing(model, mean=_floats("mean", FLAGS.mean), std=_floats("std", FLAGS.std))
    except ValueError as error:
        _fail(str(error))
    inputs = []
    for path in paths:
        try:
            pixels = tf.io.decode_image(tf.io.read_file(path), channels=prepare.num_channels, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            _fail(f"could not read the image {path!r} ({error.message.splitlines()[0]}); pass PNG, JPEG, GIF or BMP "
                  "files.")
        inputs.append(np.asarray(prepare(tf.cast(pixels, "float32")[None]))[0])
    inputs = np.stack(inputs)
    return inputs * prepare.std + prepare.mean, inputs  # undoes (x / 255 - mean) / std


def _readout_label(model):
    from keras_vit.explain.rollout import readout_rows

    rows = readout_rows(model)
    if rows == "probe":
        return "attention of the MAP probe (after the last block)"
    mean_patch = rows.start or rows.stop is None  # average pooling reads the patches, token pooling the prefix
    what = "attention of the mean patch (average pooling)" if mean_patch else "class-token attention"
    return f"{what} in block {FLAGS.block % len(model.layout.blocks)} (of 0-{len(model.layout.blocks) - 1})"


def _names(paths):
    """Output file stems, one per image, unique."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    counts = [stems[: index + 1].count(stem) for index, stem in enumerate(stems)]  # its n-th occurrence
    return [stem if count == 1 else f"{stem}_{count}" for stem, count in zip(stems, counts)]


def _save(figure, name, written):
    figure.savefig(os.path.join(FLAGS.output_dir, f"{name}.png"))
    written.append(name)


def write_figures(model, inputs, shown, stems, written):
    """The --figures PNGs; a figure that does not apply to the model is skipped with a note."""
    from keras_vit import explain

    def attempt(name, make):
        try:
            _save(make(), name, written)
        except (ValueError, ImportError) as error:  # ImportError: an optional package (scikit-learn) is missing
            print(f"skipped {name}: {error}")

    attempt("position_similarity", lambda: explain.plot_position_similarity(explain.position_similarity(model)))
    attempt("embedding_filters", lambda: explain.plot_embedding_filters(*explain.embedding_filters(model)))
    attempt("attention_distance", lambda: explain.plot_attention_distance(
        explain.mean_attention_distance(model, inputs, batch_size=FLAGS.batch_size),
        title=f"Mean attention distance over {len(inputs)} image(s)"))
    attempt("patch_tsne", lambda: explain.plot_patch_tsne(explain.patch_tsne(
        model, inputs, FLAGS.block, batch_size=FLAGS.batch_size), [model.name], stems,
        title=f"t-SNE of block {FLAGS.block % len(model.layout.blocks)}'s patch tokens, colored by image"))
    if getattr(model, "word_grid_size", None) is not None:
        blocks = sorted({0, len(model.layout.blocks) // 2, len(model.layout.blocks) - 1})
        features = explain.tnt_feature_maps(model, inputs, block_indices=blocks, batch_size=FLAGS.batch_size)
        labels = [f"block {b}" for b in blocks]
        for index, stem in enumerate(stems):
            figure = explain.plot_tnt_features(features, shown[index], index=index, block_labels=labels)
            _save(figure, f"{stem}_tnt_features", written)


def main(argv):
    paths = argv[1:]
    if not paths:
        _fail(f"pass one or more image files.\n{USAGE}")
    if not FLAGS.output_dir:
        _fail(f"pass --output_dir DIR, the folder for the PNG files.\n{USAGE}")
    common.check_output("explain", FLAGS.output_dir)
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        _fail(f"image file(s) not found: {', '.join(missing)}.")
    if FLAGS.batch_size <= 0:
        _fail(f"--batch_size must be positive; received {FLAGS.batch_size}.")
    import keras
    import numpy as np

    from keras_vit import explain
    from keras_vit.explain.attention import attention_blocks

    model = common.load_model("explain", FLAGS.model, FLAGS.weights, FLAGS.override)
    try:
        attention_blocks(model, [FLAGS.block], purpose="explaining a model")
    except ValueError as error:
        _fail(str(error))
    if not FLAGS.model.endswith(".keras") and not FLAGS.weights:
        print(f"Note: no --weights given; {model.name!r} has random weights, so its attention shows no learned "
              "structure.")
    shown, inputs = read_images(paths, model)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    stems, written = _names(paths), []
    label = _readout_label(model)
    classes = model.predict(inputs, batch_size=FLAGS.batch_size, verbose=0) if model.layout.head else None
    progress = keras.utils.Progbar(len(paths), unit_name="image")
    for start in range(0, len(paths), FLAGS.batch_size):
        batch = inputs[start : start + FLAGS.batch_size]
        heads = explain.class_token_attention(model, batch, block_index=FLAGS.block, batch_size=FLAGS.batch_size)
        flow = explain.attention_rollout(model, batch, batch_size=FLAGS.batch_size)
        for offset, index in enumerate(range(start, start + len(batch))):
            title = f"{os.path.basename(paths[index])}: {label}, per head; rollout"
            if classes is not None:
                title += f" (predicted class {int(np.argmax(classes[index]))})"
            figure = explain.plot_attention(shown[index], heads.image[offset], flow.image[offset], title=title)
            _save(figure, f"{stems[index]}_attention", written)
            progress.add(1)
    if FLAGS.figures:
        write_figures(model, inputs, shown, stems, written)
    print(f"wrote {len(written)} PNG file(s) to {FLAGS.output_dir}")
