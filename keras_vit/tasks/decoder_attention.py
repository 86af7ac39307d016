"""DETR's decoder figure: where each object query looks in the image (Carion et al. 2020, figure 6). A detection
figure, so it lives with the detector; the figures of every zoo model are in keras_vit.explain."""

import numpy as np

from keras_vit.explain.attention import check_images


def decoder_attention(model, images, layer_index=-1):
    """Each query's cross-attention over the image in a DETR decoder layer, averaged over heads, with the
    layer's predictions.

    The detector computes it itself (`model.decoder_attention`, keras_vit.tasks.DETR); this checks the images.

    Args:
        model: a DETR (keras_vit.create("detr_vit_ti16_digits")).
        images: (batch, height, width, channels) float images as the model takes them.
        layer_index: the decoder layer (negative counts from the end; DETR's figure shows the last).

    Returns:
        {"attention": (batch, num_queries, rows, columns), each query's map summing to 1 over the positions;
        "logits": (batch, num_queries, num_classes + 1); "boxes": (batch, num_queries, 4) normalized cxcywh}.
    """
    if not callable(getattr(model, "decoder_attention", None)):
        raise ValueError(f"decoder_attention needs a DETR (a model with a decoder_attention method); model {model.name!r} "
                         f"has none: keras_vit.create('detr_vit_ti16_digits') makes one.")
    return model.decoder_attention(check_images(model, images), layer_index)


def plot_decoder_attention(image, attention, boxes, labels, scores, class_names=None, max_queries=6):
    """The image with the detected boxes, then each detecting query's attention map with its box (DETR's figure).

    Args:
        image: (height, width, channels) pixels (any range; shown min-max scaled).
        attention: (num_queries, rows, columns) maps of one image (`decoder_attention(...)["attention"][i]`).
        boxes: (num_queries, 4) normalized cxcywh.
        labels, scores: (num_queries,) each query's class and score; the `max_queries` best are shown.
        class_names: optional names of the classes.

    Returns:
        A matplotlib Figure.
    """
    from keras_vit.explain.plots import plot_attention

    shown = np.argsort(-np.asarray(scores))[:max_queries]
    captions = [f"query {q}: {class_names[labels[q]] if class_names else labels[q]} {scores[q]:.2f}" for q in shown]
    figure = plot_attention(image, np.asarray(attention)[shown], captions=captions)
    from matplotlib.patches import Rectangle  # importable: plot_attention made a figure

    detections = figure.axes[0]
    detections.set_title("detections", fontsize=8)
    height, width = np.shape(image)[:2]
    for axis, query in zip(figure.axes[1:], shown):
        cx, cy, w, h = np.asarray(boxes[query]) * [width, height, width, height]
        for target, color in ((axis, "cyan"), (detections, "lime")):
            target.add_patch(Rectangle((cx - w / 2 - 0.5, cy - h / 2 - 0.5), w, h, fill=False, edgecolor=color,
                                       linewidth=1.2))
    return figure
