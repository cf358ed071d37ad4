#!/bin/sh
# Refreshes every generated file after a knowledge or report change: docs/rules.md and the insta
# snapshots of the reports. Review the result with `git diff` before committing.
set -e
cd "$(dirname "$0")/.."
UPDATE_GENERATED=1 cargo test -q -p cobalt-report --test generated
INSTA_UPDATE=always cargo test -q -p cobalt-report
find crates -name '*.snap.new' -delete
git status --short -- docs/rules.md crates/cobalt-report/tests/snapshots
