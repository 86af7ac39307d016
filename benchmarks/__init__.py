"""keras_vit's benchmarks: measurements of the zoo, kept outside the package (they import keras_vit as users do).

    python -m benchmarks peers vit_b16 --batch_size 8     # speed and memory beside keras-hub and timm (peers/)
    python -m benchmarks serving --model vit_b16          # an exported SavedModel against the in-process call

Run from the root of a checkout (`python -m benchmarks --help`; docs/speed.md). The other scripts here
(fit_on_arrays.py, int8_speed.py, deploy_accuracy.py, ablations/) run as files: `python benchmarks/int8_speed.py`.
"""
