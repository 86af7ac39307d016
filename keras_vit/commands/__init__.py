"""One module per `keras-vit` command (see keras_vit.cli)."""
