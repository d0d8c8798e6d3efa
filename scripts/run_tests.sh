#!/bin/sh
# Runs the test suite. pytest exits 5 when it collects nothing: that is a failure here, said plainly.
. .venv/bin/activate
python -m pytest tests "$@"
status=$?
if [ "$status" = 5 ]; then
    echo "run_tests: pytest collected no tests (exit 5) - the suite is missing" >&2
    exit 1
fi
exit "$status"
