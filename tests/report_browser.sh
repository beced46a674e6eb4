#!/bin/bash
# The report in a real browser: headless Chromium renders RUN_DIR/report/index.html (written by
# the `report` test) to a PNG, and test_report --screenshot checks it is not blank and shows the
# spectrograms, curves and bars. Exit 77 (ctest: SKIPPED, never passed) where no chromium is
# installed: `./install-deps.sh --browser` installs Debian's (`.ci/run` does).
# usage: report_browser.sh TEST_REPORT PAGE_DIR OUT_PNG
set -u
test_report=$1 page=$2/index.html out=$3
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "report_browser: SKIPPED: no chromium installed (./install-deps.sh --browser installs it)"
  exit 77
fi
[ -f "$page" ] || { echo "report_browser: FAIL: $page missing (the report test writes it)"; exit 1; }
rm -f "$out"
# a throwaway profile; virtual time lets images and layout settle before the shot
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1280,3000 \
  --virtual-time-budget=5000 --screenshot="$out" "file://$(realpath "$page")" \
  > "$profile/log" 2>&1
rc=$?
if [ ! -s "$out" ]; then
  echo "report_browser: FAIL: $browser wrote no screenshot (exit $rc):"; tail -5 "$profile/log"; exit 1
fi
"$test_report" --screenshot "$out" || exit 1
echo "report_browser: PASSED ($("$browser" --version 2>/dev/null | head -1))"
