"""MAC counts (analytic against the traced graph, and against published figures) and the generated zoo page."""

import importlib.util
from pathlib import Path

import pytest

import keras_vit
from keras_vit.macs import count_macs, graph_macs

_TOOL = Path(__file__).resolve().parent.parent / "tools" / "zoo_table.py"
_spec = importlib.util.spec_from_file_location("zoo_table", _TOOL)
zoo_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoo_table)
generate = zoo_table.generate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["vit_b16", "vit_r50_b16", "vit_r_ti16", "vit_r26_s32", "bit_r50x1"])
def test_analytic_macs_equal_the_graph_count(name):
    spec = keras_vit.get_spec(name).tiny_spec()
    assert count_macs(spec) == graph_macs(keras_vit.build(spec))


def test_analytic_macs_with_relative_positions_and_pre_logits():
    spec = keras_vit.get_spec("vit_b16", position_encoding="relative", representation_dim=16).tiny_spec()
    assert count_macs(spec) == graph_macs(keras_vit.build(spec))


def test_vit_b16_macs_by_hand_and_against_timm():
    # Hand count: 196 patches x 768 x 768 embedding; per block (197 tokens) qkv 197*768*2304, attention 2*197^2*768,
    # projection 197*768^2, MLP 2*197*768*3072; head 768*1000.
    tokens, dim = 197, 768
    block = tokens * dim * 3 * dim + 2 * tokens * tokens * dim + tokens * dim * dim + 2 * tokens * dim * 4 * dim
    assert count_macs("vit_b16") == 196 * 768 * dim + 12 * block + dim * 1000
    # timm lists 17.58 GMACs for vit_base_patch16_224 (its counter also counts a few element-wise ops).
    assert count_macs("vit_b16") / 1e9 == pytest.approx(17.58, rel=0.005)


def test_macs_grow_with_image_size():
    assert count_macs("vit_r50_b16", image_size=384) > 2.5 * count_macs("vit_r50_b16")


def test_committed_zoo_page_equals_the_generated_text():
    committed = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    assert committed == generate(), "docs/zoo.md is stale: run `python tools/zoo_table.py > docs/zoo.md`"


def test_zoo_page_lists_every_model_with_its_published_results():
    text = generate()
    missing = [name for name in keras_vit.list_models(include_aliases=False) if f"| `{name}` |" not in text]
    assert missing == []
    # R50x1+ViT-B/16 row of the ViT paper's appendix Table 5, and its parameter count in millions.
    assert "| `vit_r50_b16` |" in text and "| 98.66 | 21.54 | 85.58 | 89.65 | 99.14 | 92.63 | 96.65 | 99.40 |" in text


def test_families_without_a_counter_are_counted_on_the_graph(monkeypatch):
    from keras_vit import macs

    spec = keras_vit.get_spec("vit_r_ti16").tiny_spec()
    analytic = count_macs(spec)
    monkeypatch.delitem(macs.ANALYTIC, "vit")
    assert count_macs(spec) == analytic
