# Checks for tour.sh: never part of README's tour (tests/tidy strips every line that calls one).

# expect TEXT — TEXT matches the comment lines just above the call, the output README shows
# there: whitespace is ignored and "…" stands for anything. Exits the tour on a mismatch.
expect() {
  python3 - "${BASH_SOURCE[1]}" "${BASH_LINENO[0]}" "$1" <<'PY'
import re, sys
path, line, actual = sys.argv[1], int(sys.argv[2]), sys.argv[3]
above = open(path, encoding="utf-8").read().splitlines()[: line - 1]
shown = []
for l in reversed(above):
    if not l.startswith("#"):
        break
    shown.insert(0, l[1:])
expected = "".join("".join(shown).split())
squeezed = "".join(actual.split())
pattern = ".*?".join(re.escape(p) for p in expected.split("…"))
if not shown or not re.search(pattern, squeezed, re.S):
    print(f"tour.sh:{line}: README shows\n  {expected}\nbut the command printed\n  {actual}", file=sys.stderr)
    sys.exit(1)
print(f"  ✓ line {line}", file=sys.stderr)
PY
}

# tour_browser USER PASSWORD — stands in for the reader's browser in step 9: a fake `xdg-open`
# on PATH that signs USER in on the login page and clicks "Allow" on the consent page, as the
# reader would (cli-login opens the browser through xdg-open).
tour_browser() {
  local bin
  bin=$(mktemp -d)
  cat >"$bin/xdg-open" <<SH
#!/bin/sh
python3 "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/browser.py" "\$1" "$1" "$2" >"$bin/browser.log" 2>&1 &
SH
  chmod +x "$bin/xdg-open"
  PATH="$bin:$PATH"
  export PATH
}

# tour_wait_for URL — waits (up to 10 minutes: the first run builds the binary) until URL answers.
tour_wait_for() {
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "$1" && return 0
    sleep 1
  done
  echo "tour.sh: $1 never answered" >&2
  return 1
}

# The services a step starts in the background stop with the tour.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
