#!/usr/bin/env bash
# Create ./.venv and install the project into it (editable) with the given extras, only when needed.
# Idempotent: a stamp records the pyproject.toml hash and the extras installed; a second run is instant.
# Usage: scripts/ensure-venv.sh EXTRA[,EXTRA...]      (prints nothing when there is nothing to do)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
want="${1:-}"
py="${PYTHON:-python3}"

if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "myosem: error: Python >= 3.11 is needed (tried '$py'; set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "myosem: creating virtual environment in $venv" >&2
  "$py" -m venv "$venv"
fi

stamp="$venv/.myosem-install"
hash="$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
have_hash=""; have_extras=""
if [ -f "$stamp" ]; then read -r have_hash have_extras < "$stamp" || true; fi
missing=""
for e in ${want//,/ }; do
  case ",$have_extras," in *",$e,"*) ;; *) missing="$missing $e" ;; esac
done
if [ "$have_hash" = "$hash" ] && [ -z "$missing" ]; then exit 0; fi

# Keep what is already installed and add what is asked for.
extras="$want"
if [ "$have_hash" = "$hash" ] && [ -n "$have_extras" ]; then extras="$have_extras,$want"; fi
extras="$(echo "$extras" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
echo "myosem: installing myosem-rt[$extras] into $venv (first run only; torch comes as a local CPU wheel)" >&2
log="$venv/install.log"
if ! { "$venv/bin/python" -m pip install --upgrade pip && "$venv/bin/python" -m pip install -e "$root[$extras]"; } \
    >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "myosem: error: installing into $venv failed (full log: $log)" >&2
  exit 2
fi
echo "$hash $extras" > "$stamp"
