"""Model specs: YAML files in `registry/models/` loaded into validated, frozen `ModelSpec` objects."""

from keras_vit.spec.load import get_spec, load_spec_file
from keras_vit.spec.model_spec import ModelSpec, thaw
from keras_vit.spec.spec_index import add_spec_dir, list_names
from keras_vit.spec.yaml_file import SpecError

__all__ = ["ModelSpec", "SpecError", "add_spec_dir", "get_spec", "list_names", "load_spec_file", "thaw"]
