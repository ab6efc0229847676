"""Training ASE-MLLM on critique data: settings, samples, the loop, resumable checkpoints."""
