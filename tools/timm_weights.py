"""Writes timm's published weights for the zoo's models into weights/*.yaml (needs timm and torch).

    python tools/timm_weights.py RESULTS_CSV COMMIT

RESULTS_CSV is timm's results/results-imagenet.csv (huggingface/pytorch-image-models at COMMIT), the source of the
published top-1. For every zoo spec, the timm models of the same architecture (the spec's timm alias, and the same
name at another input size, e.g. vit_base_patch16_384 for vit_b16; checked by comparing the state-dict shapes of
both built at 224) give one entry per pretrained tag, with the installed timm's pretrained configuration: the Hub
file, input size, mean/std, crop_pct, interpolation, number of classes and license. A tag of a timm model at another
size than the spec's gets the size as suffix (vit_b16.augreg_in21k_ft_in1k_384; such a size goes to the first spec
by name when several specs share the architecture); a tag that an original release's
entry already uses gets `_timm`; timm's copy replaces another entry of the same tag (tnt_s16.in1k, the TNT
release's .pth.tar). Entries without a `timm:` field (the original releases' files) are kept.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import timm
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
# timm's ResNetV2 (the hybrids' stems and the BiT ResNets) standardizes weights by sqrt(var + 1e-8) and its GroupNorm
# uses PyTorch's epsilon 1e-5; the zoo's specs carry the original releases' constants (docs/hybrid.md).
TIMM_STEM = {"std_conv_epsilon": 1e-8, "std_conv_epsilon_mode": "variance", "group_norm_epsilon": 1e-5}
BIT_OVERRIDES = {"std_conv_epsilon": 1e-8}


def _shapes(name):
    kwargs = {} if name.startswith("resnetv2") else {"img_size": 224}
    with torch.device("meta"):
        model = timm.create_model(name, num_classes=1000, **kwargs)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _size(name):
    return int(re.search(r"_(\d+)$", name).group(1))


def main(results_csv, commit):
    top1 = {row["model"]: row for row in csv.DictReader(open(results_csv))}
    specs = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "registry" / "models").glob("*.yaml"))}
    owned = {alias: name for name, spec in specs.items() for alias in spec.get("aliases", [])}
    known, published, claimed = set(timm.list_models()), set(timm.list_pretrained()), set()
    for name, spec in specs.items():
        base = next((a for a in spec.get("aliases", []) if a in known), None)
        if base is None:
            continue
        stem = re.sub(r"_\d+$", "", base)
        family = "resnet_v2" if base.startswith("resnetv2") else "tnt" if base.startswith("tnt") else "vit"
        file = ROOT / "weights" / f"{name}.yaml"
        data = yaml.safe_load(file.read_text()) if file.exists() else {"model": name, "weights": {}}
        kept = {t: e for t, e in data["weights"].items() if "timm" not in e}
        entries = {}
        for model in sorted(m for m in known if re.sub(r"_\d+$", "", m) == stem and owned.get(m, name) == name):
            tags = sorted(p for p in published if p.split(".")[0] == model)
            patch = spec.get("model", {}).get("patch_size", 1)
            if not tags or model in claimed or (model != base and _shapes(model) != _shapes(base)):
                continue  # a size that no spec names goes to the first spec of its architecture
            if model != base and _size(model) % patch:
                continue  # e.g. vit_so400m_patch14_siglip_384: timm drops the 6 pixels that 14 does not tile

            claimed.add(model)
            for full in tags:
                cfg = timm.models.get_pretrained_cfg(full).to_dict()
                tag = full.split(".", 1)[1] + ("" if model == base else f"_{_size(model)}")
                if tag in kept and kept[tag]["format"].endswith("npz"):
                    tag += "_timm"
                row = top1.get(full)
                accuracy = None if row is None else {
                    "imagenet_top1": float(row["top1"]),
                    "note": f"timm results-imagenet.csv ({commit[:10]}) at {row['img_size']}, crop {row['crop_pct']}"}
                entry = {
                    "url": f"https://huggingface.co/{cfg['hf_hub_id']}/resolve/main/model.safetensors",
                    "source": f"timm {timm.__version__} pretrained_cfg of {full}"
                              + (f" (origin {cfg['origin_url']})" if cfg.get("origin_url") else ""),
                    "format": {"vit": "timm_vit", "tnt": "timm_tnt", "resnet_v2": "timm_resnetv2"}[family],
                    "sha256": None,
                    "image_size": cfg["input_size"][-1],
                    "num_classes": cfg["num_classes"],
                    "mean": [round(float(v), 8) for v in cfg["mean"]],
                    "std": [round(float(v), 8) for v in cfg["std"]],
                    "crop_pct": cfg["crop_pct"],
                    "interpolation": cfg["interpolation"],
                    "license": cfg.get("license"),
                    "accuracy": accuracy,
                    "timm": full,
                }
                if "stem" in spec.get("model", {}):
                    entry["overrides"] = {"stem": dict(TIMM_STEM)}  # copies: safe_dump would write YAML anchors
                elif family == "resnet_v2":
                    entry["overrides"] = dict(BIT_OVERRIDES)
                entries[tag] = entry
        if entries:
            data["weights"] = {**kept, **entries}
            file.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=1000))
            print(f"{name}: {len(entries)} timm tags")


if __name__ == "__main__":
    main(*sys.argv[1:])
