"""TFDS builder for Refer-DAVIS17 (see refer_davis_dataset_builder.py)."""
