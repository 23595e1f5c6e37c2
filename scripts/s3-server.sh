#!/usr/bin/env bash
# A real S3-compatible server for the tests: a single-node Ceph cluster (one
# monitor, one in-memory OSD) with the RADOS Gateway in front, all under one
# temp directory with its own ceph.conf and cephx keyrings.
#
#   scripts/s3-server.sh start [DIR]   bring it up; prints KEY=VALUE lines
#                                       (S3_SERVER_DIR, CODEX_METRICS_S3_ENDPOINT,
#                                       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                                       AWS_REGION) on stdout, also kept in DIR/env
#   scripts/s3-server.sh stop DIR       stop the daemons this script started there
#                                       (by their pid files) and remove DIR
#
# Needs Debian's packages: radosgw ceph-mon ceph-osd ceph-common.
# S3_SERVER_TIMEOUT (seconds, default 45) bounds each attempt; a failed attempt
# is stopped, cleaned and tried once more on new ports.
set -euo pipefail

ACCESS_KEY=codexmetricstestkey
SECRET_KEY=codexmetricstestsecret0000000000000000000
TIMEOUT=${S3_SERVER_TIMEOUT:-45}

START_MS=$(date +%s%3N)
log() { echo "s3-server: $*" >&2; }
stage() { log "$(( ($(date +%s%3N) - START_MS) ))ms $*"; }

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# Kill only what this script started: the pids in DIR/run/*.pid.
stop_daemons() {
  local dir=$1 f pid
  [ -d "$dir/run" ] || return 0
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  # The cluster lives in memory and DIR is removed next: no clean shutdown is
  # owed, so a daemon slow to take TERM is killed after two seconds.
  for _ in $(seq 1 20); do
    local alive=0
    for f in "$dir"/run/*.pid; do
      [ -f "$f" ] || continue
      pid=$(cat "$f" 2>/dev/null || true)
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for f in "$dir"/run/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  done
}

# wait_for SECONDS_LEFT_VAR DESCRIPTION COMMAND...: poll until COMMAND succeeds or the deadline.
wait_until() {
  local what=$1; shift
  while ! "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$DEADLINE" ]; then log "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}

http_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

attempt() {
  local dir=$1
  DEADLINE=$(( $(date +%s) + TIMEOUT ))
  local mon_port rgw_port fsid osd_uuid conf
  mon_port=$(free_port); rgw_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid); osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir/run" "$dir/log" "$dir/mon/ceph-a" "$dir/osd/ceph-0" "$dir/rgw"
  conf=$dir/ceph.conf
  cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$mon_port]
ms bind msgr2 = false
ms bind ipv4 = true
ms bind ipv6 = false
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/admin.keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
crash dir = $dir/log
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pgp num = 4
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
paxos propose interval = 0.05
paxos min wait = 0.01
mon lease = 1
osd pool default pg num = 4
[mon]
keyring = $dir/mon.keyring
[osd]
keyring = $dir/osd/\$cluster-\$id/keyring
[client.rgw.a]
keyring = $dir/rgw.keyring
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw enable usage log = false
EOF
  local -a C=(-c "$conf")
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$dir/admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/admin.keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  timeout 20 ceph-mon "${C[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" 2>>"$dir/log/setup.log"
  timeout 20 ceph-mon "${C[@]}" -i a 2>>"$dir/log/setup.log"
  stage "monitor started"
  wait_until "the monitor" timeout 5 ceph "${C[@]}" --connect-timeout 3 mon stat || return 1

  stage "monitor answers"
  local osd_id
  osd_id=$(timeout 20 ceph "${C[@]}" osd new "$osd_uuid")
  [ "$osd_id" = 0 ] || { log "unexpected osd id '$osd_id'"; return 1; }
  ceph-authtool --create-keyring "$dir/osd/ceph-0/keyring" --gen-key -n osd.0 >/dev/null
  timeout 20 ceph "${C[@]}" auth add osd.0 osd 'allow *' mon 'allow profile osd' \
    -i "$dir/osd/ceph-0/keyring" 2>>"$dir/log/setup.log"
  timeout 20 ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/setup.log" >/dev/null
  stage "osd made"
  timeout 20 ceph-osd "${C[@]}" -i 0 2>>"$dir/log/setup.log"
  osd_up() { ceph "${C[@]}" --connect-timeout 3 osd dump 2>/dev/null | grep -q '^osd.0 up'; }
  wait_until "the OSD" osd_up || return 1

  stage "osd up"
  timeout 20 ceph "${C[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' \
    -o "$dir/rgw.keyring" 2>>"$dir/log/setup.log"
  timeout 20 radosgw "${C[@]}" -n client.rgw.a 2>>"$dir/log/setup.log"
  wait_until "the gateway on port $rgw_port" http_up "$rgw_port" || return 1
  stage "gateway listening"
  timeout 30 radosgw-admin "${C[@]}" user create --uid=codex-metrics-test --display-name=codex-metrics-test \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null 2>>"$dir/log/setup.log" || return 1

  stage "user created"
  cat > "$dir/env" <<EOF
S3_SERVER_DIR=$dir
CODEX_METRICS_S3_ENDPOINT=http://127.0.0.1:$rgw_port
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=us-east-1
EOF
}

start() {
  local dir=${1:-}
  for cmd in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool ceph; do
    command -v "$cmd" >/dev/null || { log "$cmd not found (apt-get install radosgw ceph-mon ceph-osd ceph-common)"; exit 1; }
  done
  [ -n "$dir" ] || dir=$(mktemp -d /tmp/codex-metrics-s3.XXXXXX)
  # Killed half-way (a test's timeout): leave no daemon behind.
  trap 'stop_daemons "$dir"; exit 1' TERM INT HUP
  for try in 1 2; do
    if attempt "$dir"; then cat "$dir/env"; return 0; fi
    log "attempt $try failed; logs in $dir/log"
    tail -n 5 "$dir"/log/*.log >&2 2>/dev/null || true
    stop_daemons "$dir"
    [ "$try" = 2 ] && break
    rm -rf "$dir"; mkdir -p "$dir"
  done
  rm -rf "$dir"
  exit 1
}

stop() {
  local dir=${1:?usage: s3-server.sh stop DIR}
  [ -f "$dir/ceph.conf" ] || { log "$dir is not a server directory"; exit 1; }
  stop_daemons "$dir"
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: s3-server.sh start [DIR] | stop DIR" >&2; exit 2 ;;
esac
