"""`keras-vit evaluate --model PATH [--num_scenes N | --coco_images DIR --coco_json FILE]`: COCO AP, AP50, AP75 of a
detector or per-class IoU and mean IoU of a segmenter, through the model's serving contract (docs/tasks.md)."""

import functools

from absl import flags

from keras_vit.commands import common

flags.DEFINE_string("model", None, "A task model: a SavedModel folder (keras-vit export's; its newest version), a "
                    ".keras file or a run folder holding model.keras.")
flags.DEFINE_integer("num_scenes", 1000, "Held-out digit scenes to score on (when no COCO data is given).")
flags.DEFINE_integer("seed", 0, "The digit split's seed: held-out scenes use digits its training split never holds.")
flags.DEFINE_string("coco_images", None, "A COCO-format image folder (with --coco_json) instead of digit scenes.")
flags.DEFINE_string("coco_json", None, "The instances JSON of --coco_images.")
flags.DEFINE_integer("batch_size", 16, "Images per call.")
FLAGS = flags.FLAGS
_fail = functools.partial(common.fail, "evaluate")


def main(argv):
    if len(argv) != 1:
        _fail(f"unexpected arguments {argv[1:]}; every input is a flag (--model, --num_scenes, ...).")
    if not FLAGS.model:
        _fail("pass --model PATH: a SavedModel folder, a .keras file or a run folder (runs/NAME).")
    from keras_vit.tasks.evaluate import evaluate, report_lines

    try:
        task, metrics, names, data = evaluate(FLAGS.model, FLAGS.num_scenes, FLAGS.seed, FLAGS.coco_images,
                                              FLAGS.coco_json, FLAGS.batch_size)
    except (ValueError, OSError, ImportError) as error:
        _fail(str(error).splitlines()[0])
    print("\n".join([f"{task} {FLAGS.model} on {data}", *report_lines(task, metrics, names)]))
