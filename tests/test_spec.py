"""YAML specs: inheritance, overrides, validation errors that name file, key path and value."""

import dataclasses
import textwrap

import pytest

import keras_vit
from keras_vit.registry import KERAS_ARGS, Slot, registry
from keras_vit.schema import fields, validate_model
from keras_vit.spec import ModelSpec, SpecError, load_spec_file


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_extends_inherits_the_model_and_overrides_merge():
    b16, b32 = keras_vit.get_spec("vit_b16"), keras_vit.get_spec("vit_b32")
    assert b32.model["patch_size"] == 32
    assert {k: v for k, v in b32.model.items() if k != "patch_size"} == {
        k: v for k, v in b16.model.items() if k != "patch_size"
    }
    assert b32.aliases != b16.aliases and b32.expected_num_params != b16.expected_num_params
    assert keras_vit.get_spec("vit_s32").model["hidden_dim"] == 384  # two levels: vit_s32 -> vit_s16 -> vit_b16


def test_aliases_resolve_to_the_same_spec():
    assert keras_vit.get_spec("vit_base_patch16_224") == keras_vit.get_spec("vit_b16")
    assert keras_vit.get_spec("vit_large_patch32_224").name == "vit_l32"


def test_list_models_wildcards_cover_names_and_aliases():
    # vit_r50_b16 matches vit_b* through its timm alias vit_base_r50_s16_224 (and vit_r50_l32 *large*), the DINOv2
    # and SigLIP models through vit_base_patch14_dinov2, vit_large_patch16_siglip_256 and their kin.
    assert keras_vit.list_models("vit_b*") == ["dinov2_b14", "dinov2_b14_reg4", "siglip_b16_224", "siglip_b16_256",
                                               "vit_b16", "vit_b16_reg4_gap", "vit_b32", "vit_b8", "vit_r50_b16"]
    assert keras_vit.list_models("vit_b*", include_aliases=False) == ["vit_b16", "vit_b16_reg4_gap", "vit_b32", "vit_b8"]
    assert keras_vit.list_models("*large*") == ["deit3_l16", "dinov2_l14_reg4", "siglip_l16_256", "vit_l16", "vit_l32",
                                                "vit_r50_l32"]
    assert keras_vit.list_models("*large*", include_aliases=False) == []
    assert set(keras_vit.list_models("vit_*")) >= {
        "vit_ti16", "vit_s16", "vit_s32", "vit_b8", "vit_b16", "vit_b32", "vit_l16", "vit_l32", "vit_h14"
    }


def test_overrides_are_validated_and_the_spec_is_frozen():
    spec = keras_vit.get_spec("vit_b16", num_classes=10, image_size=[384, 384])
    assert spec.model["num_classes"] == 10 and list(spec.model["image_size"]) == [384, 384]
    with pytest.raises(TypeError, match="frozen"):
        spec.model["num_classes"] = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"


def test_a_frozen_mapping_can_override_a_slot():
    # A recipe's `--set model.head={...}` reaches with_overrides as a frozen mapping (the loaded recipe's own).
    spec = keras_vit.get_spec("seg_vit_ti16_digits")
    head = spec.with_overrides(hidden_dim=8).with_overrides(head=spec.with_overrides(
        head={"name": "fpn_segmentation_head", "context_dilations": [1, 2]}).model["head"]).model["head"]
    assert dict(head) == {"name": "fpn_segmentation_head", "context_dilations": (1, 2)}


def test_user_yaml_file_with_extends(tmp_path):
    path = write(tmp_path, "my_vit", """
        name: my_vit
        extends: vit_s16
        expected_num_params: 1
        model:
          num_layers: 2
          num_classes: 7
    """)
    model = keras_vit.create(str(path), image_size=32)
    assert model.output_shape == (None, 7)
    assert len([layer for layer in model.layers if layer.name.startswith("block_")]) == 2


@pytest.mark.parametrize(
    "body,message",
    [
        ("name: s\nfamily: vit\nmodel: {hidden_dimm: 3}\n", r"model\.hidden_dimm.*Did you mean 'hidden_dim'"),
        ("name: s\nfamily: vit\nmodell: {}\nmodel: {}\n", r"unknown key 'modell'"),
        ("name: s\nfamily: vitt\nmodel: {}\n", r"family.*Did you mean 'vit'"),
        ("name: s\nfamily: vit\n", r"required key 'model'"),
        ("name: s\nfamily: vit\nmodel: {num_heads: 5}\n", r"hidden_dim.*768.*num_heads.*5"),
        ("name: s\nfamily: vit\nmodel: {image_size: 100}\n", r"image_size height 100.*patch size 16"),
        ("name: s\nfamily: vit\nmodel: {pooling: average}\n", r"model\.pooling: Unknown pooling 'average'.*gap, map, token.*'none'"),
        ("name: s\nfamily: vit\nmodel: {num_classes: -1}\n", r"num_classes.*-1"),
        ("name: s\nfamily: vit\nmodel:\n  - 1\n", r"model: must be a mapping of hyperparameters; received \[1\]"),
        ("name: s\nfamily: vit\nmodel: {hidden_dim: [1\n", r"not valid YAML at line \d+"),
        ("- just\n- a list\n", r"must hold a mapping"),
        ("name: s\nfamily: vit\nextends: 3\nmodel: {}\n", r"`extends` must be"),
        ("name: s\nfamily: vit\nexpected_num_params: lots\nmodel: {}\n", r"expected_num_params.*'lots'"),
    ],
)
def test_bad_spec_files_name_the_file_and_the_problem(tmp_path, body, message):
    path = tmp_path / "s.yaml"
    path.write_text(body)
    with pytest.raises(SpecError, match=message) as info:
        load_spec_file(path)
    assert str(path) in str(info.value)


def test_a_spec_file_named_otherwise_than_its_name_warns_when_loaded_by_path(tmp_path):
    # Issue 27: add_spec_dir warns about (and skips) such a file, but create("file.yaml") built it silently.
    path = write(tmp_path, "my_model", "name: vit_custom\nextends: vit_ti16\nfamily: vit\nmodel: {num_layers: 1}\n")
    with pytest.warns(UserWarning, match=r"my_model.yaml: `name` must equal the file name 'my_model'; found "
                                         r"'vit_custom'\. .*it is used as it is: model 'vit_custom'"):
        spec = keras_vit.get_spec(str(path))
    assert spec.name == "vit_custom" and spec.model["num_layers"] == 1


def test_extends_cycle_is_reported(tmp_path):
    write(tmp_path, "a", "name: a\nextends: b.yaml\nfamily: vit\nmodel: {}\n")
    write(tmp_path, "b", "name: b\nextends: a.yaml\nfamily: vit\nmodel: {}\n")
    with pytest.raises(SpecError, match="cycle"):
        load_spec_file(tmp_path / "a.yaml")


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"Unknown model 'vit_b17'\. Did you mean 'vit_b16'"):
        keras_vit.create("vit_b17")


def test_yaml_tags_are_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nfamily: vit\nmodel: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec_file(path)


@pytest.mark.parametrize("name", keras_vit.list_models())
def test_every_zoo_spec_round_trips_through_to_dict(name):
    spec = keras_vit.get_spec(name)
    assert ModelSpec.from_dict(spec.to_dict(), spec.source) == spec


@pytest.mark.parametrize("name", keras_vit.list_models())
def test_every_zoo_spec_has_a_valid_tiny_form(name):
    # The tiny section is checked where it is used, not on every load.
    spec = keras_vit.get_spec(name).tiny_spec()
    assert spec.model == {**keras_vit.get_spec(name).model, **spec.model} and spec.family == keras_vit.get_spec(name).family


def test_a_broken_tiny_section_fails_where_it_is_used(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nfamily: vit\ntiny: {num_heads: 5}\nmodel: {}\n")
    spec = load_spec_file(path)  # loading checks the model section only
    with pytest.raises(SpecError, match=r"hidden_dim.*768.*num_heads.*5.*after the overrides \{'num_heads': 5\}"):
        spec.tiny_spec()


@pytest.mark.parametrize("family", registry("model").names())
def test_every_family_argument_and_slot_argument_has_one_field(family):
    family_cls = registry("model").get(family)
    declared = fields(family_cls)
    assert list(declared) == [name for name in family_cls.config_names() if name not in KERAS_ARGS]
    assert [key for key, field in declared.items() if field is None] == []
    for slot in (field for field in declared.values() if isinstance(field, Slot)):
        for name in slot.names():
            cls = registry(slot.kind).get(name)
            if cls.__init__.__module__.startswith("keras_vit"):  # Keras's own classes check their own arguments
                missing = [a for a, f in fields(cls).items() if f is None and a not in slot.provided]
                assert missing == [], (family, slot.kind, name)


def test_fields_check_by_exact_name_and_unknown_arguments_are_refused():
    from keras_vit.models import ViT

    class Custom(ViT):
        def __init__(self, learning_rate=0.1, **kwargs):  # a name no glossary rule covers
            super().__init__(**kwargs)

    with pytest.raises(ValueError, match=r"model.learning_rate: model family Custom declares no field"):
        validate_model(Custom, {"learning_rate": 0.1})
    with pytest.raises(ValueError, match=r"model.dropout_rate: must be a number in \[0, 1\); received 1.0\."):
        validate_model(ViT, {"dropout_rate": 1.0})
    for value in (True, 1.0, 0):
        with pytest.raises(ValueError, match=rf"model.num_layers: must be a positive integer; received {value}\."):
            validate_model(ViT, {"num_layers": value})
    with pytest.raises(ValueError, match=r"model.position_placement: must be one of .*, or null; received 'stme'"):
        validate_model(ViT, {"position_placement": "stme"})
    validate_model(ViT, {"position_placement": None, "representation_dim": None, "image_size": [32, 48]})
