# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine:
# they create .venv with pip when it is missing and reuse it when present.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kanfair-installed

.PHONY: install demo test test-all mutation clean

# the engine's C++ kernels are built here, once per machine and venv (a line says so), not
# in the middle of the first run or test that needs them
install: $(STAMP)
	$(PY) -c "from kanfair.models.engine import native; native.load()"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: install
	$(PY) train.py experiment=quickstart

# two pytest workers (pytest-xdist): most tests start a kanfair process, so on 2 cores
# the suite takes about 10 minutes (9 min 54 s in the CI run of 7765dcb)
test: install
	$(PY) -m pytest -q -m "not slow" -n 2

test-all: install
	$(PY) -m pytest -q -n 2

# Mutation testing (not part of `make test`): first the hand-planted selection and storage
# bugs (scripts/check_planted_bugs.py), then mutmut, which mutates the modules that decide
# reported numbers in a copy (mutants/) and runs the in-process tests that cover each
# mutant, then the verdict (scripts/mutation_report.py): every survivor in the selection and
# storage functions must be explained in tests/MUTANTS.md. mutmut runs in a venv that
# reaches .venv's packages through a .pth line, so that `import kanfair` finds mutmut's
# copy rather than the editable install.
MUTATION_VENV := .mutation-venv
REPORT_NUMBERS := configuration_key runs_frame summarise tuned_finals best_per_family frontier \
                  continual_summary attach_published _published_key
MUTATED := "kanfair.trainer.*" "kanfair.results.*" "kanfair.budget.*" "kanfair.cost.*" \
           $(foreach f,$(REPORT_NUMBERS),"kanfair.report.tables.x_$(f)__mutmut_*")
# one torch thread: mutmut forks a worker per mutant, and an OpenMP pool inherited across a
# fork deadlocks (every such mutant would be reported as a timeout)
MUTMUT := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(MUTATION_VENV)/bin/python -c "import sys; from mutmut.__main__ import cli; sys.argv[0] = 'mutmut'; cli()"

mutation: install
	$(PY) scripts/check_planted_bugs.py
	test -x $(MUTATION_VENV)/bin/python || $(PYTHON) -m venv --without-pip $(MUTATION_VENV)
	$(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
	    > $$($(MUTATION_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/deps.pth
	rm -rf mutants
	$(MUTMUT) run $(MUTATED)
	$(MUTMUT) results --all true > mutants/results.txt
	$(PY) scripts/mutation_report.py mutants/results.txt

clean:
	rm -rf $(VENV) $(MUTATION_VENV) mutants outputs multirun
