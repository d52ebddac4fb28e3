"""TFDS builder for A2D Sentences (see a2d_sentences_dataset_builder.py)."""
