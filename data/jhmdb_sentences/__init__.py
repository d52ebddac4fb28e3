"""TFDS builder for J-HMDB Sentences (see jhmdb_sentences_dataset_builder.py)."""
