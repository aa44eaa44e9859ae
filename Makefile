# The two commands: `make run` scans samples/, `make test` passes the tests. Each installs what is missing.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3
NATIVE  := triage/native/_iterhash.so

.PHONY: run test lint typecheck unit bench sysdeps samples clean fuzz

run: $(STAMP) $(NATIVE)
	@$(VENV)/bin/triage scan samples/; rc=$$?; \
	  if [ $$rc -eq 0 ] || [ $$rc -eq 3 ] || [ $$rc -eq 4 ]; then exit 0; else exit $$rc; fi

test: $(STAMP) $(NATIVE) lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check triage tests bench samples
	$(VENV)/bin/ruff format --check triage tests bench samples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) bench/scan_corpus.py

samples: $(STAMP)
	$(PY) samples/build_samples.py

# System packages: libmagic (python-magic), unar + 7zip (RAR), libmilter-dev (pymilter), postfix (gateway tests).
sysdeps:
	@./.ci/sysdeps.sh

$(STAMP): pyproject.toml
	@./.ci/sysdeps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev,ja,gateway,batch]'
	@$(PY) -m compileall -q triage >/dev/null  # bytecode up front: start-up counts for one-message scans
	@touch $(STAMP)

# The C part of Office agile-encryption key derivation (triage/native); without a compiler triage runs the Python
# loop instead, ~3x slower per password tried on an encrypted document.
$(NATIVE): triage/native/iterhash.c $(STAMP)  # after $(STAMP): it installs cc and the OpenSSL headers
	@cc -O2 -shared -fPIC -Wall -Wextra -Werror -o $@ $< -lcrypto \
	  || echo "note: $@ not built (needs cc and libssl-dev): Office key derivation runs in Python" >&2

# Coverage-guided fuzzing of the parsers (issue 8): every tests/fuzz/fuzz_*.py for FUZZ_SECONDS each, one after
# another; crashes land in tests/fuzz/findings/. Not part of `make test` or CI.
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	@$(PY) -c 'import atheris' 2>/dev/null || $(PY) -m pip install --quiet -e '.[fuzz]'
	$(PY) tests/fuzz/run_all.py --seconds $(FUZZ_SECONDS) --rss-limit-mb 2048 --timeout 20

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
