# Two entry points for a fresh machine with Python 3.11 and make:
#   make demo   installs into .venv and runs the main job on the sample files and a
#               generated statewide file
#   make test   installs into .venv and runs the tests

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLES := ../shared/fixtures/doj
DEMO_ROWS ?= 1000000
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=

.PHONY: install test demo clean docs-images

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	mkdir -p $(DEMO_OUT)
	@if [ -d $(SAMPLES) ]; then \
		echo "== sample file, county SAN JOAQUIN, compute-at 2019-11-11"; \
		$(BIN)/clearance run $(SAMPLES)/extra_comma.csv --out $(DEMO_OUT)/sample \
			--county "SAN JOAQUIN" --compute-at 2019-11-11 \
			--policy $(SAMPLES)/eligibility_options.json; \
	else \
		echo "== sample files not found at $(SAMPLES); skipping the sample run"; \
	fi
	@echo "== generating a statewide file of $(DEMO_ROWS) rows"
	$(BIN)/clearance generate --rows $(DEMO_ROWS) --out $(DEMO_OUT)/statewide.csv --seed 1
	@echo "== statewide run, every county"
	$(BIN)/clearance run $(DEMO_OUT)/statewide.csv --out $(DEMO_OUT)/statewide
	@echo "== results: $(DEMO_OUT)/sample and $(DEMO_OUT)/statewide (summary.json, manifest.json, one folder per county)"

clean:
	rm -rf $(VENV) $(DEMO_OUT) *.egg-info

# Pictures of the documents for docs/ and the README; needs Debian's chromium and
# poppler-utils (apt-get install chromium poppler-utils).
docs-images: $(STAMP)
	$(BIN)/python scripts/docs_images.py
