"""TFDS builder for Refer-YouTube-VOS (see refer_youtube_vos_dataset_builder.py)."""
