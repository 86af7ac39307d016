"""Runs in its own process (importing timm after TensorFlow crashes the process): timm loads a checkpoint written by
keras_vit.weights.save the way a user does, strictly, and saves its logits on the given images.

    python tests/weights/timm_load_worker.py NAME CHECKPOINT KWARGS_JSON IMAGES_NPY LOGITS_NPY
"""

import json
import sys

import numpy as np
import timm
import torch


def main(name, checkpoint, kwargs, images, logits):
    kwargs = json.loads(kwargs)
    # the overlay's num_classes equals the model's, so timm keeps the head and loads strictly (no key missing or extra)
    overlay = dict(file=checkpoint, num_classes=kwargs["num_classes"])
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.load(images).transpose(0, 3, 1, 2).copy()))
    np.save(logits, out.numpy())


if __name__ == "__main__":
    main(*sys.argv[1:6])
