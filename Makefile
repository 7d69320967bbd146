# Set-up and entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Extras installed with the package: the test tools by default; the image installs with EXTRAS= (none).
EXTRAS ?= [test]
export XDG_RUNTIME_DIR ?= /tmp/corkboard-runtime-$(shell id -u)

.PHONY: install demo serve test clean

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.3.1
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".$(EXTRAS)"
	# torchdata 0.8+ lacks what DGL 2.1 needs on torch 2.2; recbole only ships MovieLens-100K.
	$(BIN)/python -m pip install --quiet --no-deps torchdata==0.7.1 recbole==1.2.1
	touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/corkboard materialize --world demo
	@echo "Dagster UI: run '$(BIN)/corkboard ui' in another shell, then open http://127.0.0.1:3000"
	$(BIN)/corkboard serve

test: $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf .corkboard
