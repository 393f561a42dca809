#!/usr/bin/env bash
# Builds the local server images the integration tests use when no registry is reachable:
#   kvkit/etcd:3.4         etcd-server + etcd-client 3.4 from Debian bookworm
#   kvkit/consul:1.8.7     consul 1.8.7 from the Debian bullseye archive
#   kvkit/zookeeper:3.8    zookeeper 3.8 + default-jre-headless on a debootstrapped bookworm
#   kvkit/redis:7.0        redis-server + redis-cli 7.0 from Debian bookworm
# No Dockerfile base image is pulled: each image is a root filesystem made here and given to
# `docker import`. Downloads and the ZooKeeper rootfs are cached under KVKIT_IMAGE_CACHE, so a
# rebuild is quick. An image is skipped when it exists and was built by this same recipe (label
# kvkit.recipe = hash of this script and docker/**); FORCE=1 rebuilds anyway.
# Usage: scripts/build-images.sh [etcd|consul|zookeeper|redis ...]   (default: all four)
# Needs root (debootstrap, chroot) and a running dockerd (scripts/install-docker.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CACHE="${KVKIT_IMAGE_CACHE:-/var/cache/kvkit-images}"
MIRROR="${KVKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${KVKIT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
FORCE="${FORCE:-0}"

ETCD_IMAGE=kvkit/etcd:3.4
CONSUL_IMAGE=kvkit/consul:1.8.7
ZOOKEEPER_IMAGE=kvkit/zookeeper:3.8
REDIS_IMAGE=kvkit/redis:7.0

log() { printf '[build-images] %s\n' "$*" >&2; }
mkdir -p "$CACHE"
# Two runs at once (two test runs on one machine) take turns; the second finds the images current.
exec 8>"$CACHE/.build.lock"
flock 8

# Any change to this script or to docker/** changes the recipe and so rebuilds the images.
RECIPE="$(cat "$HERE/build-images.sh" $(find "$ROOT/docker" -type f | sort) | sha256sum | cut -c1-16)"
# Tags built by this recipe, listed once (one docker call: the quick path of a test run).
CURRENT_IMAGES=""
image_is_current() {
  printf '%s\n' "$CURRENT_IMAGES" | grep -qxF "$1"
}

# Downloads .deb files of SUITE into $CACHE/debs-SUITE through a private apt state, so the
# machine's own apt configuration and lists are never touched.
apt_download() {
  local suite="$1"; shift
  local dir="$CACHE/apt-$suite" out="$CACHE/debs-$suite"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$out"
  local missing=()
  for pkg in "$@"; do
    compgen -G "$out/${pkg}_*.deb" >/dev/null || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  # The suite with its point-release and security updates (where it still gets them), so the
  # newest fixed package is taken; an empty dpkg status keeps the machine's own packages out of it.
  {
    echo "deb $MIRROR $suite main"
    echo "deb $MIRROR $suite-updates main"
    echo "deb $SECURITY_MIRROR $suite-security main"
  } >"$dir/sources.list"
  : >"$dir/status"
  local opts=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::State::status=$dir/status" -o "Dir::Cache=$dir/cache"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq)
  log "apt: fetching ${missing[*]} from $suite"
  # Builds run side by side and may share a suite's private apt state: one at a time in it.
  (
    flock 9
    apt-get "${opts[@]}" update
    cd "$out" && apt-get "${opts[@]}" download "${missing[@]}"
  ) 9>"$dir/.lock"
}

# Copies BINARY and every shared library ldd lists for it into ROOTFS, at the same paths.
# With PKGS (a tree of unpacked .deb files), libraries are looked up there first and copied to
# the path they have inside the package, so the machine need not have them installed.
copy_with_libs() {
  local rootfs="$1" bin="$2" pkgs="${3:-}"
  local lib search=""
  [ -n "$pkgs" ] && search="$pkgs/lib/x86_64-linux-gnu:$pkgs/usr/lib/x86_64-linux-gnu:$pkgs/usr/lib"
  for lib in $(LD_LIBRARY_PATH="$search" ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' || true); do
    [ -e "$lib" ] || continue
    if [ -n "$pkgs" ] && [ "${lib#"$pkgs"/}" != "$lib" ]; then
      install -D -m 0644 "$lib" "$rootfs/${lib#"$pkgs"/}"
    else
      cp --parents -L -n "$lib" "$rootfs/"
    fi
  done
}

# A minimal filesystem every image needs: /tmp, a root user, /bin/sh (dash: only needs libc).
base_rootfs() {
  local rootfs="$1"
  mkdir -p "$rootfs"/{tmp,etc,bin,usr/local/bin,root}
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
  cp /bin/dash "$rootfs/bin/sh"
  copy_with_libs "$rootfs" /bin/dash
}

build_etcd() {
  apt_download bookworm etcd-server etcd-client
  local work; work="$(mktemp -d)"
  local pkgs="$work/pkgs" rootfs="$work/rootfs"
  for deb in "$CACHE"/debs-bookworm/etcd-server_*.deb "$CACHE"/debs-bookworm/etcd-client_*.deb; do
    dpkg -x "$deb" "$pkgs"
  done
  base_rootfs "$rootfs"
  install -m 0755 "$pkgs/usr/bin/etcd" "$pkgs/usr/bin/etcdctl" "$rootfs/usr/local/bin/"
  copy_with_libs "$rootfs" "$rootfs/usr/local/bin/etcd"
  copy_with_libs "$rootfs" "$rootfs/usr/local/bin/etcdctl"
  mkdir -p "$rootfs/etcd-data"
  # Same layout as the official quay.io/coreos/etcd image (/usr/local/bin, no entrypoint), so
  # the harness passes one command line to either. CMD is a usable single-node default.
  tar -C "$rootfs" -c . | docker import --change "LABEL kvkit.recipe=$RECIPE" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV ETCDCTL_API=3' \
    --change 'EXPOSE 2379 2380' \
    --change 'CMD ["etcd","--name","kvkit","--data-dir","/etcd-data","--listen-client-urls","http://0.0.0.0:2379","--advertise-client-urls","http://127.0.0.1:2379","--listen-peer-urls","http://127.0.0.1:2380","--initial-advertise-peer-urls","http://127.0.0.1:2380","--initial-cluster","kvkit=http://127.0.0.1:2380"]' \
    - "$ETCD_IMAGE" >/dev/null
  rm -rf "$work"
}

build_consul() {
  apt_download bullseye consul
  local work; work="$(mktemp -d)"
  local pkgs="$work/pkgs" rootfs="$work/rootfs"
  dpkg -x "$(ls "$CACHE"/debs-bullseye/consul_*.deb | head -n1)" "$pkgs"
  base_rootfs "$rootfs"
  install -m 0755 "$pkgs/usr/bin/consul" "$rootfs/usr/local/bin/consul"
  copy_with_libs "$rootfs" "$rootfs/usr/local/bin/consul"
  mkdir -p "$rootfs/consul/data" "$rootfs/consul/config"
  # ENTRYPOINT consul + CMD args mirrors how the official hashicorp/consul image treats
  # `agent ...` arguments, so the harness passes the same command to either.
  tar -C "$rootfs" -c . | docker import --change "LABEL kvkit.recipe=$RECIPE" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'EXPOSE 8300 8301 8302 8500 8600' \
    --change 'ENTRYPOINT ["consul"]' \
    --change 'CMD ["agent","-dev","-client","0.0.0.0"]' \
    - "$CONSUL_IMAGE" >/dev/null
  rm -rf "$work"
}

# Redis 7.0 from bookworm: redis-server is a link to redis-check-rdb (one binary), redis-cli
# for `exec`. The libraries Debian's redis needs beyond a base system are downloaded with it.
build_redis() {
  apt_download bookworm redis-tools libjemalloc2 liblzf1 libatomic1
  local work; work="$(mktemp -d)"
  local pkgs="$work/pkgs" rootfs="$work/rootfs"
  for deb in "$CACHE"/debs-bookworm/{redis-tools,libjemalloc2,liblzf1,libatomic1}_*.deb; do
    dpkg -x "$deb" "$pkgs"
  done
  base_rootfs "$rootfs"
  install -m 0755 "$pkgs/usr/bin/redis-check-rdb" "$rootfs/usr/local/bin/redis-server"
  install -m 0755 "$pkgs/usr/bin/redis-cli" "$rootfs/usr/local/bin/redis-cli"
  copy_with_libs "$rootfs" "$pkgs/usr/bin/redis-check-rdb" "$pkgs"
  copy_with_libs "$rootfs" "$pkgs/usr/bin/redis-cli" "$pkgs"
  mkdir -p "$rootfs/data"
  # Like the official redis image: data (the RDB written at shutdown) in /data, the working dir.
  tar -C "$rootfs" -c . | docker import --change "LABEL kvkit.recipe=$RECIPE" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change 'CMD ["redis-server","--bind","0.0.0.0","--protected-mode","no"]' \
    - "$REDIS_IMAGE" >/dev/null
  rm -rf "$work"
}

# debootstrap + JRE + zookeeper is the slow part (~1 min): the finished rootfs is cached as a
# tarball and only rebuilt when missing (or with FORCE_ROOTFS=1). Bump ZK_ROOTFS_VERSION when
# the recipe below changes.
ZK_ROOTFS_VERSION=2
zookeeper_rootfs_tar() {
  local tarball="$CACHE/zookeeper-rootfs-v$ZK_ROOTFS_VERSION.tar"
  if [ -s "$tarball" ] && [ "${FORCE_ROOTFS:-0}" != 1 ]; then
    echo "$tarball"; return 0
  fi
  local rootfs="$CACHE/zookeeper-rootfs"
  # Never leave proc mounted, even when a step fails.
  cleanup_zk() { mountpoint -q "$rootfs/proc" && umount "$rootfs/proc" || true; }
  trap cleanup_zk EXIT
  cleanup_zk
  rm -rf "$rootfs"
  log "debootstrap bookworm (minbase) into $rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 30 "$CACHE/debootstrap.log" >&2; return 1; }
  mount -t proc proc "$rootfs/proc" # Java's post-install needs /proc
  log "installing default-jre-headless + libzookeeper-java (+ zookeeper's scripts) in the rootfs"
  # The `zookeeper` package depends on the full default-jre (GTK, Mesa, LLVM: +250 MB) for a GUI
  # tool we never run. Install only the server library and a headless JRE with apt, then unpack
  # the package's scripts and config (zkServer.sh, zkCli.sh, /etc/zookeeper) without its deps.
  chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -ec '
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends default-jre-headless libzookeeper-java >/dev/null
    cd /tmp && apt-get download -qq zookeeper && dpkg -x zookeeper_*.deb / && rm zookeeper_*.deb
    ln -sfn conf_example /etc/zookeeper/conf
    mkdir -p /var/lib/zookeeper /var/log/zookeeper
    apt-get clean
    rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale
  ' >"$CACHE/zookeeper-install.log" 2>&1 || { tail -n 30 "$CACHE/zookeeper-install.log" >&2; return 1; }
  umount "$rootfs/proc"
  trap - EXIT
  rm -f "$CACHE"/zookeeper-rootfs-v*.tar # older recipes
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
  echo "$tarball"
}

build_zookeeper() {
  local tarball; tarball="$(zookeeper_rootfs_tar)"
  # The start script is not in the cached rootfs (it may change more often): append it to a copy.
  local overlay; overlay="$(mktemp -d)"
  install -D -m 0755 "$ROOT/docker/zookeeper/kvkit-zk-start" "$overlay/usr/local/bin/kvkit-zk-start"
  local combined="$overlay.tar"
  cp "$tarball" "$combined"
  tar -C "$overlay" -rf "$combined" ./usr/local/bin/kvkit-zk-start
  docker import --change "LABEL kvkit.recipe=$RECIPE" \
    --change 'ENV PATH=/usr/local/bin:/usr/share/zookeeper/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'EXPOSE 2181' \
    --change 'CMD ["/usr/local/bin/kvkit-zk-start"]' \
    "$combined" "$ZOOKEEPER_IMAGE" >/dev/null
  rm -rf "$overlay" "$combined"
}

build() {
  local name="$1" image="$2"
  if image_is_current "$image" && [ "$FORCE" != 1 ]; then
    log "$image is up to date (FORCE=1 rebuilds)"
    return 0
  fi
  local t0; t0=$(date +%s%N)
  local previous; previous="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  "build_$name"
  # The image this one replaced, unless a container still uses it (then docker refuses).
  [ -n "$previous" ] && docker rmi "$previous" >/dev/null 2>&1 || true
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  log "$image built in $((ms / 1000)).$(( (ms % 1000) / 100 ))s"
}

if ! CURRENT_IMAGES="$(docker image ls --filter "label=kvkit.recipe=$RECIPE" --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)"; then
  log "docker is not answering: run scripts/install-docker.sh first"
  exit 1
fi

kinds=("$@")
[ "${#kinds[@]}" -eq 0 ] && kinds=(etcd consul zookeeper redis)
for kind in "${kinds[@]}"; do
  case "$kind" in etcd | consul | zookeeper | redis) ;; *) log "unknown image '$kind' (etcd|consul|zookeeper|redis)"; exit 2 ;; esac
done

# debootstrap (for ZooKeeper's rootfs) is the only tool here a minimal Debian may lack (the rest
# is apt, dpkg, coreutils). Only needed when that rootfs is not cached and an image is stale.
needs_debootstrap() {
  local kind
  for kind in "${kinds[@]}"; do
    [ "$kind" = zookeeper ] || continue
    { image_is_current "$ZOOKEEPER_IMAGE" && [ "$FORCE" != 1 ]; } && return 1
    [ -s "$CACHE/zookeeper-rootfs-v$ZK_ROOTFS_VERSION.tar" ] && [ "${FORCE_ROOTFS:-0}" != 1 ] && return 1
    return 0
  done
  return 1
}
if needs_debootstrap && ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  # A machine with Docker may still have empty package lists: `install` alone would fail.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The builds share nothing but the download cache of a suite (etcd and redis both fetch from
# bookworm, each into its own .deb names): run them side by side, so a cold build costs about the
# ZooKeeper one.
t_all=$(date +%s)
pids=()
for kind in "${kinds[@]}"; do
  image_var="$(echo "$kind" | tr '[:lower:]' '[:upper:]')_IMAGE"
  build "$kind" "${!image_var}" &
  pids+=("$!")
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { log "building ${kinds[$i]} FAILED"; failed=1; }
done
[ "$failed" -eq 0 ] || exit 1
log "all images ready in $(( $(date +%s) - t_all ))s"
