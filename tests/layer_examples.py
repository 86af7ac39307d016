"""One small example per registered layer: the shared layer check runs on each, and a test fails when a registered
layer has no entry here. Keys are (registry kind, registered name)."""

# (kind, name): (input shape with batch, init kwargs, non-default kwargs, has trainable weights)
LAYER_EXAMPLES = {
    ("patch_embed", "patch_embed"): ((2, 16, 16, 3), {"patch_size": 4, "hidden_dim": 8}, {"patch_size": (4, 2), "use_bias": False}, True),
    ("layer", "class_token"): ((2, 5, 8), {}, {"num_tokens": 4}, True),
    ("layer", "layer_scale"): ((2, 5, 8), {}, {"init_value": 0.1}, True),
    ("norm", "layer_norm"): ((2, 5, 8), {"epsilon": 1e-6}, {"epsilon": 1e-5, "center": False}, True),
    ("head", "distilled_classifier"): ((2, 2, 8), {"num_classes": 3}, {"activation": "softmax"}, True),
    ("layer", "drop_path"): ((4, 5, 8), {"rate": 0.0}, {"rate": 0.3, "seed": 7}, False),
    ("position", "learned_1d"): ((2, 5, 8), {"grid_size": 2, "num_prefix_tokens": 1}, {"grid_size": (1, 4)}, True),
    ("position", "learned_2d"): ((2, 7, 8), {"grid_size": (2, 3), "num_prefix_tokens": 1}, {"grid_size": (3, 2)}, True),
    ("position", "sincos_2d"): ((2, 7, 8), {"grid_size": (2, 3)}, {"grid_size": (3, 2), "temperature": 100.0}, False),
    ("position", "relative"): ((2, 5, 8), {"num_tokens": 5, "key_dim": 4}, {"key_dim": 6}, True),
    ("position", "rotary_2d"): ((2, 5, 8), {"grid_size": 2, "key_dim": 8}, {"grid_size": (1, 4), "reference_grid_size": 3, "temperature": 100.0}, False),
    ("attention", "rotary_msa"): ((2, 5, 8), {"hidden_dim": 8, "num_heads": 2}, {"num_heads": 4, "attention_dropout_rate": 0.1, "use_qkv_bias": False}, True),
    ("mlp", "swiglu"): ((2, 5, 8), {"intermediate_dim": 16}, {"output_dim": 4, "dropout_rate": 0.1, "use_inner_norm": True, "layer_norm_epsilon": 1e-5}, True),
    ("attention", "msa"): ((2, 5, 8), {"hidden_dim": 8, "num_heads": 2}, {"num_heads": 4, "attention_dropout_rate": 0.1, "use_qkv_bias": False}, True),
    ("mlp", "mlp"): ((2, 5, 8), {"intermediate_dim": 16}, {"output_dim": 4, "dropout_rate": 0.1, "use_approximate_gelu": True}, True),
    ("block", "transformer_block"): (
        (2, 5, 8),
        {"hidden_dim": 8, "num_heads": 2, "intermediate_dim": 16},
        {"dropout_rate": 0.1, "attention_dropout_rate": 0.1, "drop_path_rate": 0.1, "layer_norm_epsilon": 1e-5, "use_qkv_bias": False, "use_approximate_gelu": True, "layer_scale_init_value": 0.1},
        True,
    ),
    ("pooling", "token"): ((2, 5, 8), {}, {"num_tokens": 2}, False),
    ("pooling", "gap"): ((2, 5, 8), {}, {"num_prefix_tokens": 1}, False),
    ("patch_embed", "pixel_embed"): (
        (2, 16, 16, 3),
        {"patch_size": 8, "inner_dim": 4, "pixel_stride": 2, "pixel_kernel_size": 3},
        {"patch_size": (8, 4), "pixel_stride": 4, "pixel_kernel_size": 5},
        True,
    ),
    ("position", "pixel_position"): ((2, 3, 4, 8), {"grid_size": 2}, {"grid_size": (1, 4)}, True),
    ("layer", "pixel_projection"): ((2, 3, 4, 8), {"hidden_dim": 6}, {"use_bias": False, "layer_norm_epsilon": 1e-6}, True),
    ("block", "tnt_block"): (
        [(2, 4, 4, 8), (2, 5, 16)],  # [words (batch, patches, words, inner_dim), tokens (batch, 1 + patches, hidden_dim)]
        {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32, "inner_dim": 8, "inner_num_heads": 2, "inner_intermediate_dim": 16},
        {"dropout_rate": 0.1, "attention_dropout_rate": 0.1, "drop_path_rate": 0.1, "layer_norm_epsilon": 1e-6, "use_qkv_bias": True, "use_approximate_gelu": True},
        True,
    ),
    ("pooling", "map"): ((2, 5, 8), {"num_heads": 2, "intermediate_dim": 16}, {"num_heads": 4, "layer_norm_epsilon": 1e-5}, True),
    ("head", "classifier"): ((2, 8), {"num_classes": 3}, {"representation_dim": 6, "dropout_rate": 0.1, "activation": "softmax"}, True),
    ("layer", "std_conv2d"): ((2, 8, 8, 3), {"filters": 4}, {"filters": 6, "kernel_size": (3, 1), "strides": (2, 2), "padding": "symmetric", "use_bias": True, "epsilon": 1e-5, "epsilon_mode": "std"}, True),
    ("layer", "group_norm"): ((2, 4, 4, 8), {"groups": 2}, {"groups": 4, "epsilon": 1e-6, "gamma_initializer": "zeros"}, True),
    ("layer", "resnet_root"): ((2, 16, 16, 3), {"filters": 8, "num_groups": 2}, {"use_norm": False, "group_norm_epsilon": 1e-5, "std_conv_epsilon": 1e-8, "std_conv_epsilon_mode": "variance", "padding": "symmetric"}, True),
    ("block", "bottleneck"): ((2, 8, 8, 8), {"filters": 4, "num_groups": 2}, {"strides": 2, "group_norm_epsilon": 1e-5, "std_conv_epsilon_mode": "variance", "padding": "symmetric"}, True),
    ("block", "preact_bottleneck"): ((2, 8, 8, 8), {"filters": 4, "num_groups": 2}, {"strides": 2, "group_norm_epsilon": 1e-6, "std_conv_epsilon_mode": "std", "padding": "same"}, True),
    ("layer", "image_preprocessing"): ((2, 10, 12, 3), {"image_size": 8}, {"image_size": (6, 4), "mean": (0.4, 0.45, 0.5), "std": (0.2, 0.3, 0.4), "interpolation": "bicubic", "crop_pct": 0.875}, False),
    ("stem", "bit_resnet_stem"): ((2, 32, 32, 3), {"stage_sizes": (1, 1), "width_factor": 1, "num_groups": 8}, {"stage_sizes": (1,), "block": "preact_bottleneck", "padding": "symmetric"}, True),
    # keras_vit.tasks: necks on tokens with 1 prefix token and a 2x2 grid, the DETR decoder on a feature map, heads.
    ("neck", "simple_feature_pyramid"): ((2, 5, 8), {"output_dim": 4, "num_prefix_tokens": 1, "grid_size": (2, 2)}, {"output_dim": 6, "layer_norm_epsilon": 1e-5}, True),
    ("neck", "single_scale"): ((2, 5, 8), {"output_dim": 4, "num_prefix_tokens": 1, "grid_size": (2, 2)}, {"grid_size": (1, 4)}, True),
    # DETR starts its queries at zero: the first self-attention's values are zero and its value kernel gets no gradient.
    ("decoder", "detr_decoder"): ((2, 2, 3, 8), {"num_queries": 3, "num_layers": 2, "hidden_dim": 8, "num_heads": 2, "intermediate_dim": 16}, {"num_queries": 5, "dropout_rate": 0.0, "layer_norm_epsilon": 1e-6}, ("layer_0/self_attention/value/kernel",)),
    # The anchor decoder also starts its queries at zero; its non-default form selects queries from proposals.
    ("decoder", "anchor_decoder"): ((2, 2, 3, 8), {"num_queries": 3, "num_layers": 2, "hidden_dim": 8, "num_heads": 2, "intermediate_dim": 16}, {"num_queries": 4, "dropout_rate": 0.0, "use_box_prior": False, "anchor_size": 0.3, "use_query_selection": True, "num_classes": 3}, ("layer_0/self_attention/value/kernel",)),
    ("head", "class_head"): ({"queries": (2, 2, 3, 8), "boxes": (2, 2, 3, 4)}, {"num_classes": 4}, {"num_classes": 2}, True),
    ("head", "detr_head"): ((2, 2, 3, 8), {"num_classes": 4, "hidden_dim": 8}, {"num_classes": 2}, True),
    # The refinement's projection starts at zero (identity on the logits): its convs get no gradient in the first step.
    ("head", "image_skip_refine"): ([(2, 4, 4, 3), (2, 8, 8, 1)], {"num_classes": 3, "hidden_dim": 4}, {"hidden_dim": 6, "num_layers": 1}, ("conv_0/kernel", "conv_0/bias", "conv_1/kernel", "conv_1/bias")),
    ("head", "fpn_segmentation_head"): ([(2, 16, 16, 4), (2, 8, 8, 4), (2, 4, 4, 4), (2, 2, 2, 4)], {"num_classes": 3, "hidden_dim": 4}, {"output_stride": 2}, True),
}
