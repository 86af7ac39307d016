"""A broken spec file in a spec folder is reported once and skipped; the rest of the zoo keeps working."""

import warnings

import pytest

import keras_vit
from keras_vit.spec import spec_index

GOOD = "name: my_vit\nextends: vit_ti16\nmodel:\n  num_classes: 7\n"


@pytest.fixture(autouse=True)
def _restore_spec_dirs():
    """`add_spec_dir` folders are global: each test starts and ends with only the zoo's own folder."""
    saved = list(spec_index._extra_dirs)
    yield
    spec_index._extra_dirs[:] = saved
    spec_index._index = None


@pytest.fixture
def spec_dir(tmp_path):
    (tmp_path / "my_vit.yaml").write_text(GOOD)
    (tmp_path / "bad_yaml.yaml").write_text("name: bad_yaml\nmodel: [unclosed\n")
    (tmp_path / "wrong_stem.yaml").write_text("name: other_name\nextends: vit_ti16\n")
    return tmp_path


def _add(folder):
    """Adds `folder` and indexes it, returning the warning messages given."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_vit.add_spec_dir(folder)
        keras_vit.list_models()
    return [str(warning.message) for warning in caught]


def test_broken_files_do_not_hide_the_zoo(spec_dir):
    messages = _add(spec_dir)
    assert any("bad_yaml.yaml" in m and "not valid YAML" in m for m in messages), messages
    assert any("wrong_stem.yaml" in m and "other_name" in m for m in messages), messages
    assert {"my_vit", "vit_ti16", "vit_b16"} <= set(keras_vit.list_models())
    assert not {"bad_yaml", "wrong_stem", "other_name"} & set(keras_vit.list_models())
    assert keras_vit.get_spec("my_vit").model["num_classes"] == 7
    assert keras_vit.get_spec("vit_ti16").model["hidden_dim"] == 192


def test_each_broken_file_is_reported_once(spec_dir):
    _add(spec_dir)
    spec_index._index = None  # a rebuild (another folder added, say) does not repeat the warnings
    assert _add(spec_dir) == []


@pytest.mark.parametrize(
    "name, problem", [("bad_yaml", "not valid YAML"), ("wrong_stem", "must equal the file name")]
)
def test_requesting_a_broken_spec_raises_naming_its_file(spec_dir, name, problem):
    _add(spec_dir)
    with pytest.raises(keras_vit.SpecError, match=problem) as error:
        keras_vit.get_spec(name)
    assert f"{name}.yaml" in str(error.value)
    with pytest.raises(keras_vit.SpecError, match=problem):
        spec_index.find_spec_file(name)


def test_a_name_defined_twice_keeps_the_first(tmp_path):
    (tmp_path / "vit_ti16.yaml").write_text(GOOD.replace("my_vit", "vit_ti16"))
    (tmp_path / "clash.yaml").write_text("name: clash\naliases: [vit_base_patch16_224]\nextends: vit_ti16\n")
    messages = _add(tmp_path)
    assert any("'vit_ti16' is defined twice" in m and str(tmp_path / "vit_ti16.yaml") in m for m in messages)
    assert any("'vit_base_patch16_224' is defined twice" in m and "clash.yaml" in m for m in messages)
    assert spec_index.find_spec_file("vit_ti16") != tmp_path / "vit_ti16.yaml"
    assert keras_vit.get_spec("vit_ti16").model["num_classes"] == 1000
    with pytest.raises(keras_vit.SpecError, match="defined twice"):
        keras_vit.get_spec("clash")


def test_the_zoo_own_specs_are_all_indexed():
    # A broken shipped spec would only warn and drop out of the zoo: fail loudly here instead.
    spec_index._index = None
    assert spec_index._get_index()[2] == {}
