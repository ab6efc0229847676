"""Saliency: fixation data, density maps, metrics, baselines, IASM training and evaluation."""
