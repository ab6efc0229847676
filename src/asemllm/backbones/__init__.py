"""Backbones by name: built-in offline ones from PyPI packages, `hf:` ids, and tiny random ones."""
