# shellcheck shell=bash disable=SC2034  # (variables are used by the scripts that source this file)
# Shared by the .ci/cluster scripts: pinned versions (read from lab/core/versions.py), the cache layout and the
# "build only what is missing" helper. Sourced, never run.
#
# Cache: ${LAB_CI_CACHE:-$HOME/.cache/gitops-lab/ci}/<part>-<version>/ ; a part is complete when its
# `.done` file exists. A part is built in <dir>.tmp.<pid> and renamed into place, so an interrupted build
# leaves no half-built part behind (the next run starts that part again).
set -euo pipefail

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CI_DIR/../.." && pwd)
CACHE=${LAB_CI_CACHE:-$HOME/.cache/gitops-lab/ci}
mkdir -p "$CACHE"

# One place for the versions: lab/core/versions.py (plain assignments; read without importing the package).
pinned() {
  sed -n "s/^$1 = \"\\([^\"]*\\)\".*/\\1/p" "$REPO_DIR/lab/core/versions.py"
}
KIND_VERSION=$(pinned KIND_VERSION)             # v0.32.0
K8S_VERSION=v$(pinned KUBERNETES_VERSION)       # v1.36.1
ARGOCD_VERSION=$(pinned ARGOCD_VERSION)         # v3.5.1
if [ -z "$KIND_VERSION" ] || [ "$K8S_VERSION" = v ] || [ -z "$ARGOCD_VERSION" ]; then
  echo "cannot read the pinned versions from $REPO_DIR/lab/core/versions.py" >&2
  exit 2
fi
# The staging modules (k8s.io/api, client-go, ...) are published as v0.<minor>.<patch>.
K8S_STAGING_VERSION=v0.${K8S_VERSION#v1.}

export CGO_ENABLED=${CGO_ENABLED:-0}
export GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"
NICE=(nice -n 10)

log() { printf '[ci-cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# part_dir NAME VERSION -> the cache directory of one part.
part_dir() { printf '%s/%s-%s' "$CACHE" "$1" "$2"; }
is_built() { [ -f "$1/.done" ]; }

# run_errexit CMD...: run CMD in a subshell with errexit in force (bash ignores `set -e` inside a function
# whose status is tested, as in `if ! fn` or `fn || die`), and return its status.
run_errexit() {
  local rc
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  return "$rc"
}

# latest_part NAME -> the cache directory of the part NAME-* built last (fails when there is none).
latest_part() {
  local d
  d=$(find "$CACHE" -mindepth 2 -maxdepth 2 -path "$CACHE/$1-*/.done" ! -path '*.tmp.*' -printf '%T@ %h\n' |
    sort -n | tail -n1 | cut -d' ' -f2-)
  [ -n "$d" ] || die "$1 is not built yet: run .ci/cluster/build-all"
  printf '%s' "$d"
}

# remove_stale DIR: delete DIR.tmp.<pid> left by an interrupted build whose process is gone.
remove_stale() {
  local t pid
  for t in "$1".tmp.*; do
    [ -e "$t" ] || continue
    pid=${t##*.tmp.}
    if ! kill -0 "$pid" 2>/dev/null; then
      log "removing $t (left by an interrupted build)"
      rm -rf --one-file-system "$t"
    fi
  done
}

# build_part NAME VERSION FUNCTION: unless the part is cached, run FUNCTION OUT_DIR (OUT_DIR is a fresh
# temporary directory) and, when it succeeds, move it into the cache. Prints what it built and how long it took.
build_part() {
  local name=$1 version=$2 fn=$3 dir tmp start secs
  dir=$(part_dir "$name" "$version")
  if is_built "$dir"; then
    log "$name $version: cached ($dir)"
    return 0
  fi
  tmp="$dir.tmp.$$"
  remove_stale "$dir"
  rm -rf --one-file-system "$tmp" && mkdir -p "$tmp"
  log "$name $version: building"
  start=$(date +%s)
  if ! run_errexit "$fn" "$tmp"; then
    rm -rf --one-file-system "$tmp"
    die "$name $version: build failed"
  fi
  secs=$(($(date +%s) - start))
  printf '%s\n' "$secs" >"$tmp/.seconds"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$tmp/.done"
  rm -rf --one-file-system "$dir" && mv "$tmp" "$dir"
  log "$name $version: built in ${secs}s ($dir)"
  printf '%s %s %ss\n' "$name" "$version" "$secs" >>"$CACHE/build-times.log"
}

# go_mod_file MODULE@VERSION -> path of the module's go.mod in the module cache (downloads the .mod only).
go_mod_file() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}
# go_mod_dir MODULE@VERSION -> the module's source directory in the module cache (downloads the module).
go_mod_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

# Upstream sources the versions below are read from (module cache; downloaded on first use).
kind_src() { go_mod_dir "sigs.k8s.io/kind@$KIND_VERSION"; }
k8s_src() { go_mod_dir "k8s.io/kubernetes@$K8S_VERSION"; }

# kubeadm's pinned image versions (k8s cmd/kubeadm/app/constants/constants.go): etcd, CoreDNS, pause.
kubeadm_const() {
  sed -n "s/^[[:space:]]*$1 = \"\\([^\"]*\\)\".*/\\1/p" "$(k8s_src)/cmd/kubeadm/app/constants/constants.go" | head -n1
}
# An ARG default of kind's base image Dockerfile (images/base/Dockerfile), e.g. CRICTL_VERSION.
kind_base_arg() {
  sed -n "s/^ARG $1=\"\\([^\"]*\\)\".*/\\1/p" "$(kind_src)/images/base/Dockerfile" | head -n1
}
# An image kind's node-image builder names (pkg/build/nodeimage/const_*.go), e.g. kindnetdImage.
kind_image() {
  sed -n "s/^const $1 = \"\\([^\"]*\\)\".*/\\1/p" "$(kind_src)"/pkg/build/nodeimage/const_*.go | head -n1
}
