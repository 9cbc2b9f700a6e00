#!/usr/bin/env bash
# System tools the tests need beyond Node: terraform (>= 1.5, for the infra tests; not installable from the
# package registries reachable here, so it must be on the machine) and Debian packages installed when missing.
set -euo pipefail

# mosquitto: the bike is tested against a second, independent broker; mosquitto-clients: the local stack is
# tested with mosquitto_pub/mosquitto_sub and the AWS CLI (awscli); openssl: the bike's mutual-TLS test makes its own CA;
# python3-jsonschema: the schema package's JSON Schema is tested with Python's validator (json-schema/validate.py).
APT_PACKAGES=(mosquitto mosquitto-clients openssl awscli python3-jsonschema)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Terraform is a prerequisite of the infra tests only: CI (ALLEYCAT_REQUIRE_TERRAFORM=1) fails without it;
# a developer's set-up warns, since `pnpm start` does not need it.
if ! command -v terraform >/dev/null 2>&1; then
  echo "setup: terraform >= 1.5 is required by the infra tests (apps/infra) and was not found on PATH." >&2
  echo "       Install it from HashiCorp's releases (https://developer.hashicorp.com/terraform/install)." >&2
  [ "${ALLEYCAT_REQUIRE_TERRAFORM:-0}" = 1 ] && exit 1
  exit 0
fi
tf_version=$(terraform version -json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).terraform_version))")
case "$tf_version" in
  0.* | 1.[0-4].*)
    echo "setup: terraform $tf_version found; the infra tests need >= 1.5." >&2
    [ "${ALLEYCAT_REQUIRE_TERRAFORM:-0}" = 1 ] && exit 1 ;;
esac
