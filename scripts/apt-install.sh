# Sourced by the scripts that install system packages when missing (CI runs on a fresh
# Debian/Ubuntu machine): `apt_install PACKAGE...`, with sudo unless run as root, and one
# `apt-get update` per script.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""
apt_install() {
  [ -n "$APT_UPDATED" ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}
