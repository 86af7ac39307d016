"""Published weights by tag, timm's name or hf:// address, downloaded once from a local file-served hub (a thread
serving small random checkpoints in timm's layout, as the Hugging Face Hub serves timm's files): the cache, offline
use, checksums, cut-off files and wrong tags."""

import dataclasses
import functools
import hashlib
import http.server
import sys
import threading

import numpy as np
import pytest

import keras_vit
from keras_vit.weights import CheckpointError, manifest
from tests.weights import layouts
from tests.weights.test_converters import TINY_VIT, assert_variables, timm_vit_expected, write_safetensors

TIMM_NAME = "vit_base_patch16_224.augreg2_in21k_ft_in1k"


class HubHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files as the Hub's resolve endpoint does, with the headers huggingface_hub reads (commit, ETag)."""

    requests = []

    def end_headers(self):
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("ETag", f'"{hashlib.sha1(self.path.encode()).hexdigest()}"')
        super().end_headers()

    def do_GET(self):
        if "/resolve/" in self.path:  # downloads (huggingface_hub also asks the API other things)
            HubHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """(root folder served as the Hub, write(timm_name, tensors) -> tensors); KERAS_VIT_HOME is a fresh cache."""
    root = tmp_path / "hub"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(HubHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("KERAS_VIT_HOME", str(tmp_path / "cache"))
    HubHandler.requests = []

    def write(name, tensors, cut=0):
        folder = root / "timm" / name / "resolve" / "main"
        folder.mkdir(parents=True, exist_ok=True)
        path = write_safetensors(folder / "model.safetensors", tensors)
        if cut:
            path.write_bytes(path.read_bytes()[:-cut])
        return tensors

    yield root, write
    server.shutdown()


def tiny_vit(classes=1000, seed=0):
    return layouts.fill(layouts.timm_vit(32, 2, 2, 64, patch=8, grid=4, classes=classes), seed=seed)


@pytest.mark.parametrize("client", ["huggingface_hub", "https"])
def test_tag_timm_name_and_hf_address_load_the_same_file_downloaded_once(hub, tmp_path, monkeypatch, client):
    if client == "https":  # as without huggingface_hub installed: Keras's get_file
        monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    tensors = hub[1](TIMM_NAME, tiny_vit())
    model = keras_vit.create("vit_b16", weights="augreg2_in21k_ft_in1k", **TINY_VIT)
    assert_variables(model, timm_vit_expected(tensors, 2))
    cached = tmp_path / "cache" / "timm" / TIMM_NAME / "model.safetensors"
    assert cached.is_file() and len(HubHandler.requests) == 1
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    for again in (keras_vit.create(TIMM_NAME, **TINY_VIT),
                  keras_vit.create("vit_b16", weights=f"hf://timm/{TIMM_NAME}", **TINY_VIT),
                  keras_vit.create("vit_b16", weights=f"vit_b16.{TIMM_NAME.split('.')[1]}", **TINY_VIT)):
        np.testing.assert_array_equal(again.predict(images, verbose=0), expected)
    assert len(HubHandler.requests) == 1  # from the cache since


def test_timm_constants_of_a_hybrid_come_with_its_tag(hub):
    tensors = hub[1]("vit_small_r26_s32_224.augreg_in21k_ft_in1k",
                     layouts.fill(layouts.timm_vit(32, 2, 2, 64, patch=1, grid=4, classes=1000, stem=[1, 1])))
    model = keras_vit.create("vit_r26_s32", weights="augreg_in21k_ft_in1k", stem={"stage_sizes": [1, 1]},
                             **dict(TINY_VIT, patch_size=1))
    stem = model.get_config()["stem"]
    assert stem["stage_sizes"] == [1, 1]  # the caller's, merged with timm's ResNet constants (docs/hybrid.md)
    assert (stem["std_conv_epsilon"], stem["std_conv_epsilon_mode"], stem["group_norm_epsilon"]) == (1e-8, "variance", 1e-5)
    assert_variables(model, timm_vit_expected(tensors, 2, [1, 1]))


def test_without_network_the_error_names_the_url_and_where_to_put_the_file(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # which retries for 23 s before it gives up
    place = tmp_path / "cache" / "timm" / TIMM_NAME / "model.safetensors"
    with pytest.raises(OSError, match=f"https://huggingface.co/timm/{TIMM_NAME}/resolve/main/model.safetensors.*put "
                                      f"it at {place}"):
        keras_vit.weights.resolve(TIMM_NAME)
    place.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(place, tiny_vit())
    assert keras_vit.weights.resolve(TIMM_NAME) == str(place)  # put there by hand: used offline


def test_a_cut_off_cached_file_is_downloaded_again_and_a_cut_off_download_is_refused(hub, tmp_path):
    tensors = hub[1](TIMM_NAME, tiny_vit())
    place = tmp_path / "cache" / "timm" / TIMM_NAME / "model.safetensors"
    place.parent.mkdir(parents=True)
    place.write_bytes((hub[0] / "timm" / TIMM_NAME / "resolve/main/model.safetensors").read_bytes()[:-100])
    assert keras_vit.weights.resolve(TIMM_NAME) == str(place) and len(HubHandler.requests) == 1
    assert_variables(keras_vit.create(TIMM_NAME, **TINY_VIT), timm_vit_expected(tensors, 2))
    place.unlink()
    hub[1](TIMM_NAME, tiny_vit(), cut=100)  # the server's file is cut off: never loaded half
    with pytest.raises(CheckpointError, match=r"downloaded again .* and still it has \d+ bytes where its header describes"):
        keras_vit.create(TIMM_NAME, **TINY_VIT)
    assert not place.exists() and len(HubHandler.requests) == 3


def test_sha256_is_checked_when_the_manifest_has_one(hub, monkeypatch):
    hub[1](TIMM_NAME, tiny_vit())
    served = hub[0] / "timm" / TIMM_NAME / "resolve/main/model.safetensors"
    entries = dict(manifest._entries())
    tag = f"vit_b16.{TIMM_NAME.split('.')[1]}"
    for sha256, ok in ((hashlib.sha256(served.read_bytes()).hexdigest(), True), ("0" * 64, False)):
        entries[tag] = dataclasses.replace(entries[tag], sha256=sha256)
        monkeypatch.setattr(manifest, "_entries", lambda: entries)
        if ok:
            assert keras_vit.weights.resolve(tag).endswith("model.safetensors")
        else:
            with pytest.raises(CheckpointError, match=f"its sha256 is {sha256[:0]}[0-9a-f]{{64}}, the manifest's 0{{64}}"):
                keras_vit.weights.resolve(tag)


def test_unknown_tags_get_the_closest_and_other_models_tags_are_refused_naming_the_model():
    with pytest.raises(CheckpointError, match=r"Did you mean 'vit_b16.augreg2_in21k_ft_in1k'"):
        keras_vit.create("vit_b16", weights="augreg2_in21k_ft_in1kk")
    with pytest.raises(CheckpointError, match=r"published for deit_b16, not vit_b16: create\('deit_b16', weights='fb_in1k'\)"):
        keras_vit.create("vit_b16", weights="deit_b16.fb_in1k")
    with pytest.raises(CheckpointError, match=r"'fb_in1k' are published for deit3_b16, .*deit_b16, .*not vit_b16"):
        keras_vit.create("vit_b16", weights="fb_in1k")
    with pytest.raises(CheckpointError, match=r"published for vit_b16, not vit_s16"):
        keras_vit.create("vit_s16", weights=f"hf://timm/{TIMM_NAME}")
