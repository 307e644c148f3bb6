# Sourced by scripts that need Python tools from PyPI in a virtual environment of their own:
#   source scripts/python-venv.sh; python_venv DIR CHECK_FILE PACKAGE...
# creates DIR (installing Debian's python3-venv when missing) and pip-installs the packages
# unless DIR/CHECK_FILE is there already. Also offers apt_install (scripts/apt-install.sh).
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

python_venv() {
  local venv="$1" check="$2"
  shift 2
  [ -x "$venv/$check" ] && return 0
  # Debian and Ubuntu ship venv (with pip) as a separate package.
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q "$@"
}
