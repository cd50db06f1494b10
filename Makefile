# The two set-up commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install the project into it when setup.cfg changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov (the template security scanner) pins boto3 below setup.cfg's range, so it gets its own venv
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
CHECKOV_PIN  := checkov==3.3.30
# The step environment: the SageMaker SKLearn image's packages (local_runner/step-env.txt), in
# which the local runner runs every step, training through the real sagemaker-training toolkit
STEPS_VENV  := .venv-steps
STEPS_STAMP := $(STEPS_VENV)/.installed

.PHONY: install steps-env run test bench browser lint security clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "myflix needs Python 3.11 or newer: set PYTHON=python3.11 (or newer) and try again")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<26.3"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

install: $(STAMP)

## steps-env: .venv-steps, the packages of the image the steps run in (installed as the lock lists them)
$(STEPS_STAMP): local_runner/step-env.txt
	$(PYTHON) -m venv --clear $(STEPS_VENV)
	$(STEPS_VENV)/bin/python -m pip install --quiet --no-deps -r local_runner/step-env.txt
	@# as the image's Dockerfile does: sagemaker-containers still says collections.Mapping (gone in 3.10)
	sed -i 's/collections\.Mapping/collections.abc.Mapping/g' $(STEPS_VENV)/lib/python3*/site-packages/sagemaker_containers/_mapping.py
	$(STEPS_VENV)/bin/python -c "import sklearn, pandas, pyarrow, scipy, joblib, boto3, sagemaker_training.cli.train, sagemaker_containers.beta.framework"
	@touch $@

steps-env: $(STEPS_STAMP)

## run: the whole pipeline locally on the bundled demo data, then the API and the page
## (make run PORT=8080 to serve elsewhere; RUN_ARGS="--approve -p k_max=30" for more)
PORT     ?= 8000
RUN_ARGS ?=
run: $(STAMP) $(STEPS_STAMP)
	@echo "the myflix command lives in $(BIN)/: run 'source $(BIN)/activate' once per shell (or call $(BIN)/myflix)"
	$(BIN)/myflix run --port $(PORT) $(RUN_ARGS)

## test: the whole test suite (installs headless Chromium for the browser test where it can,
## and checkov in its own venv for the template security scan)
test: $(STAMP) $(STEPS_STAMP) browser $(CHECKOV)
	MYFLIX_CHECKOV=$(abspath $(CHECKOV)) $(BIN)/python -m pytest

## bench: every benchmark, each printing its figures and its ratio to a baseline
bench: $(STAMP) $(STEPS_STAMP)
	$(BIN)/python -m benchmarks

## browser: Debian's chromium and chromium-driver for the browser test, when missing and root
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver for the browser test"; \
	  for try in 1 2 3; do \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null && break; \
	    echo "apt-get failed (try $$try of 3)"; sleep 10; \
	  done; \
	  command -v chromedriver >/dev/null || echo "WARNING: chromium could not be installed: the browser test will be skipped"; \
	else echo "chromium/chromedriver missing and not root: the browser test will be skipped (apt-get install chromium chromium-driver)"; fi

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "$(CHECKOV_PIN)"

## lint: ruff, the import contracts (pyproject.toml) and cfn-lint; `make test` runs the first two as tests
lint: $(STAMP)
	$(BIN)/ruff check .
	PYTHONPATH=.:api $(BIN)/lint-imports
	$(BIN)/cfn-lint cfn/*.yaml

## security: checkov's CloudFormation checks on the templates
security: $(CHECKOV)
	$(CHECKOV) --directory cfn --framework cloudformation --skip-download --compact --quiet

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(STEPS_VENV) .myflix .pytest_cache
