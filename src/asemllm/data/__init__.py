"""Aesthetic-critique datasets: one record schema, readers for the benchmark formats, and checks."""
