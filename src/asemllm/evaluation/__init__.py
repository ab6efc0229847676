"""Evaluation of generated captions and critiques against human references."""
