#!/usr/bin/env bash
# Renders the dashboard page's pictures from the charts the tutorial's walk draws:
# docs/images/dashboard-progress.png and docs/images/dashboard-pending.png. Needs rsvg-convert
# (Debian's librsvg2-bin). Run from the repository's root after the charts change.
set -euo pipefail
command -v rsvg-convert >/dev/null || { echo "rsvg-convert missing: apt-get install librsvg2-bin" >&2; exit 1; }
charts=$(mktemp -d)
trap 'rm -rf "$charts"' EXIT
CAREBILL_KEEP_CHARTS="$charts" cargo nextest run -p carebill --test e2e the_tutorial_works_as_written
rsvg-convert -b white "$charts/progress.svg" -o docs/images/dashboard-progress.png
rsvg-convert -b white "$charts/pending.svg" -o docs/images/dashboard-pending.png
echo "docs/images/dashboard-progress.png and docs/images/dashboard-pending.png rendered"
