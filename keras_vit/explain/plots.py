"""Matplotlib figures of the arrays in keras_vit.explain (matplotlib is imported only here, when a figure is made).

Each function returns a `matplotlib.figure.Figure` (no pyplot state, so they work in scripts and servers alike);
save it with `figure.savefig("name.png")`.
"""

import math

import numpy as np


def _figure(width, height, rows=1, columns=1):
    """A figure and its (rows, columns) array of axes."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "keras_vit's figures need matplotlib: pip install matplotlib (or pip install 'keras-vit[explain]')."
        ) from None
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False)


def _unit(values):
    """Scaled to [0, 1] (a constant map becomes 0)."""
    values = np.asarray(values, "float64")
    low, high = np.nanmin(values), np.nanmax(values)
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _tile(maps, columns, pad=1):
    """(n, h, w[, c]) -> one (rows * (h + pad), columns * (w + pad)[, c]) mosaic, gaps as NaN."""
    maps = np.asarray(maps, "float64")
    n, h, w = maps.shape[:3]
    rows = math.ceil(n / columns)
    mosaic = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, *maps.shape[3:]), np.nan)
    for index, item in enumerate(maps):
        r, c = divmod(index, columns)
        mosaic[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = item
    return mosaic


def _show(axis, image, title, fontsize=8, cmap=None, **options):
    """`image` drawn under `title` without axis lines; a one-channel image in gray unless `cmap` says otherwise."""
    image = np.asarray(image, "float64")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    axis.imshow(image, cmap=cmap or ("gray" if image.ndim == 2 else None), **{"interpolation": "nearest", **options})
    axis.set_title(title, fontsize=fontsize)
    axis.set_axis_off()


def plot_attention(image, heads, rollout=None, title=None, captions=None):
    """The image, then each head's attention map over it, then the rollout, each map scaled to its own maximum.

    Args:
        image: (height, width, channels) pixels as the model saw them (any range; shown min-max scaled).
        heads: (heads, rows, columns) maps, stretched over the image: upsampled to it
            (`class_token_attention(...).image[i]`) or at grid resolution (`class_token_attention(...).grid[i]`).
        rollout: optional (rows, columns) map (`attention_rollout(...).image[i]`).
        title: optional figure title.
        captions: the head panels' captions (default "head 0", "head 1", ...).

    Returns:
        A matplotlib Figure.
    """
    panels = 1 + len(heads) + (rollout is not None)
    figure, [axes] = _figure(1.7 * panels, 2.0, 1, panels)
    _show(axes[0], _unit(image), "image")
    gray = _unit(np.mean(image, -1) if np.ndim(image) == 3 else image)
    maps = list(zip(captions or [f"head {i}" for i in range(len(heads))], heads))
    if rollout is not None:
        maps.append(("rollout", rollout))
    height, width = gray.shape
    for axis, (caption, values) in zip(axes[1:], maps):
        axis.imshow(gray, cmap="gray", interpolation="nearest")
        _show(axis, _unit(values), caption, cmap="inferno", alpha=0.6, interpolation="bilinear",
              extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def plot_position_similarity(similarity, title="Position embedding similarity"):
    """The ViT paper's figure 7 (center): for every patch (r, c), its map of cosine similarity to all patches.

    Args:
        similarity: (rows, columns, rows, columns) from `position_similarity`.

    Returns:
        A matplotlib Figure.
    """
    rows, columns = similarity.shape[:2]
    mosaic = _tile(similarity.reshape(rows * columns, rows, columns), columns)
    figure, [[axis]] = _figure(5.0, 5.0 * rows / columns + 0.4)
    shown = axis.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    axis.set_xticks([(columns + 1) * c + columns / 2 - 0.5 for c in range(columns)], range(1, columns + 1))
    axis.set_yticks([(rows + 1) * r + rows / 2 - 0.5 for r in range(rows)], range(1, rows + 1))
    axis.set_xlabel("input patch column")
    axis.set_ylabel("input patch row")
    axis.tick_params(labelsize=7, length=0)
    figure.colorbar(shown, ax=axis, shrink=0.8, label="cosine similarity")
    axis.set_title(title, fontsize=10)
    return figure


def plot_embedding_filters(components, explained=None, columns=7, title="Principal components of the embedding filters"):
    """The ViT paper's figure 7 (left): the leading principal components of the pixel-embedding filters, each
    min-max scaled on its own.

    Args:
        components: (n, height, width, channels) from `embedding_filters`.
        explained: optional (n,) variance shares, written under the panels' order.

    Returns:
        A matplotlib Figure.
    """
    mosaic = np.nan_to_num(_tile([_unit(c) for c in components], columns), nan=1.0)  # gaps white
    figure, [[axis]] = _figure(5.0, 5.0 * mosaic.shape[0] / mosaic.shape[1] + 0.5)
    if explained is not None:
        shares = ", ".join(f"{100 * share:.0f}%" for share in np.asarray(explained)[:5])
        title = f"{title}\n(variance explained by the first: {shares})"
    _show(axis, mosaic, title, fontsize=9)
    return figure


def plot_attention_distance(distances, title="Mean attention distance"):
    """The ViT paper's figure 7 (right): each head's mean attention distance against the block's depth.

    Args:
        distances: (num_blocks, num_heads) in pixels, from `mean_attention_distance`.

    Returns:
        A matplotlib Figure.
    """
    blocks, heads = distances.shape
    figure, [[axis]] = _figure(4.0, 3.2)
    for head in range(heads):
        axis.scatter(np.arange(blocks), distances[:, head], s=14, label=f"head {head}")
    axis.set_xlabel("block (network depth)")
    axis.set_ylabel("mean attention distance (pixels)")
    axis.set_xticks(range(blocks))
    axis.set_ylim(0, None)
    if heads <= 8:
        axis.legend(fontsize=7, loc="best")
    axis.set_title(title, fontsize=10)
    return figure


def plot_tnt_features(features, image=None, index=0, num_channels=6, block_labels=None):
    """The TNT paper's figure 3: patch-level and pixel-level feature maps of some blocks for one image, showing
    the `num_channels` channels that vary most over that image.

    Args:
        features: the list of (patches, pixels) pairs from `tnt_feature_maps`.
        image: optional (height, width, channels) image shown first.
        index: which image of the batch.
        num_channels: channels shown per map.
        block_labels: optional caption per block (default "block i").

    Returns:
        A matplotlib Figure.
    """
    labels = block_labels or [f"block {i}" for i in range(len(features))]
    figure, grid = _figure(1.2 * num_channels + 1.0, 2.3 * len(features) + (1.5 if image is not None else 0),
                           2 * len(features) + (image is not None), num_channels)
    for axis in grid.flat:
        axis.set_axis_off()
    rows = iter(grid)
    if image is not None:
        _show(next(rows)[0], _unit(image), "image")
    for label, (patches, pixels) in zip(labels, features):
        for kind, maps in (("patch", patches[index]), ("pixel", pixels[index])):
            chosen = np.argsort(maps.reshape(-1, maps.shape[-1]).var(axis=0))[::-1][:num_channels]
            for axis, channel in zip(next(rows), chosen):
                _show(axis, maps[..., channel], f"{label} {kind} ch {channel}", fontsize=6, cmap="viridis")
    return figure


def plot_patch_tsne(embedding, names=None, labels=None, title="t-SNE of patch features"):
    """The TNT paper's figure 4: the t-SNE of the patch features of one or more models, colored by model (or by
    the images' labels, one marker per model), with each model's cosine diversity in the title.

    Args:
        embedding: a `PatchEmbedding` from `patch_tsne`.
        names: optional name per model (default "model i").
        labels: optional label per image (a digit's class): points colored by it, markers o ^ s D v by model.

    Returns:
        A matplotlib Figure.
    """
    names = names or [f"model {index}" for index in range(len(embedding.diversity))]
    groups = embedding.model if labels is None else np.asarray(labels)[embedding.image]
    colors = {group: f"C{index % 10}" for index, group in enumerate(np.unique(groups))}
    figure, [[axis]] = _figure(5.0, 4.4)
    for model, group in sorted(set(zip(embedding.model.tolist(), groups.tolist()))):
        chosen = (embedding.model == model) & (groups == group)
        axis.scatter(*embedding.points[chosen].T, s=5, marker="o^sDv"[model % 5], color=colors[group], alpha=0.6,
                     linewidths=0, label=names[model] if labels is None else (str(group) if model == 0 else None))
    axis.legend(fontsize=7, markerscale=2, loc="best")
    axis.set_axis_off()
    shown = ", ".join(f"{name} {value:.3f}" for name, value in zip(names, embedding.diversity))
    axis.set_title(f"{title}\nmean pairwise cosine distance: {shown}", fontsize=9)
    return figure
