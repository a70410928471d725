#!/bin/sh
# install-deps.sh installs what forkmq's tests need when it is missing:
# Debian's mosquitto clients (mosquitto_pub, mosquitto_sub) for interop
# tests, mosquitto itself for mosquitto_passwd (password-file tests) and
# its example mosquitto.conf (config-file tests), and chromium for the
# live view's browser test.
set -eu
need=""
command -v mosquitto_pub >/dev/null 2>&1 || need="$need mosquitto-clients"
command -v mosquitto_passwd >/dev/null 2>&1 || need="$need mosquitto"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install:$need (or install them yourself)" >&2
	exit 1
fi
echo "install-deps: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq $need >/dev/null
# The package may start a system mosquitto on port 1883; the tests start
# their own brokers and `make run` wants the port.
if command -v service >/dev/null 2>&1; then service mosquitto stop >/dev/null 2>&1 || true; fi
