#!/usr/bin/env bash
# The test command of README.md: installs what the tests need, then runs every test.
#
# The Redmine tests talk to a real Redmine 5 (Debian's packages) that the test kit
# starts on 127.0.0.1 for each test binary; installing the packages needs root (CI and
# the development machines run as root). Nothing skips itself when Redmine is
# missing: the install fails loudly instead. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/redmine-server.sh install
cargo test --workspace "$@"
