#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1
# for logFS development and tests. No Docker, no download sites: the broker jars
# come from Maven Central via `mvn`, kcat (optional, used for readiness checks)
# from Debian's packages.
#
# Usage: scripts/kafka.sh install|start|stop [--wipe]|status|datadir|--help
set -euo pipefail

KAFKA_VERSION=${LOGFS_KAFKA_VERSION:-4.3.1}

SCRIPT_NAME=$(basename "${BASH_SOURCE[0]}")

abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

CACHE_ROOT=$(abspath "${LOGFS_CACHE:-$HOME/.cache/logfs}")
KAFKA_HOME=$CACHE_ROOT/kafka-$KAFKA_VERSION
LIBS=$KAFKA_HOME/libs
MARKER=$KAFKA_HOME/.installed
PORT=${LOGFS_KAFKA_PORT:-19092}
CPORT=${LOGFS_KAFKA_CONTROLLER_PORT:-19093}
DATA_DIR=$(abspath "${LOGFS_KAFKA_DIR:-$CACHE_ROOT/kafka-run-$PORT}")
HEAP_OPTS=${KAFKA_HEAP:--Xms1g -Xmx1g}
START_TIMEOUT=${LOGFS_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=30
ADDR=127.0.0.1:$PORT

PROPS=$DATA_DIR/server.properties
PID_FILE=$DATA_DIR/kafka.pid
LOG_DIR=$DATA_DIR/logs          # broker's own log4j logs (server.log)
STORE_DIR=$DATA_DIR/data        # KRaft metadata + topic partitions
OUT_LOG=$LOG_DIR/stdout.log     # JVM stdout/stderr

# take_lock DIR: serialize concurrent invocations on DIR (fd 9, released on exit).
take_lock() {
  mkdir -p "$1"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>>"$1/.lock"
  flock -w 180 9 || die "timed out waiting for another $SCRIPT_NAME on $1"
}

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat <<EOF
Usage: $SCRIPT_NAME <command> [options]

Manage a local single-node Apache Kafka $KAFKA_VERSION broker (KRaft mode,
broker+controller in one JVM) listening on 127.0.0.1. No Docker: the jars are
fetched from Maven Central with mvn, kcat from Debian's packages.

Commands:
  install        fetch kafka_2.13:$KAFKA_VERSION + runtime deps into the cache (idempotent)
  start          install if needed, format storage if needed, start the broker and
                 wait until it answers; prints the bootstrap address last on stdout
  stop [--wipe]  stop the broker (SIGTERM, SIGKILL after ${STOP_TIMEOUT}s); --wipe also
                 deletes the data dir
  status         print the address and exit 0 if the broker is up, else exit 1
  datadir        print the directory of the topic partitions' log files
  -h, --help     this help

Environment:
  LOGFS_KAFKA_VERSION          Kafka version (default $KAFKA_VERSION)
  LOGFS_CACHE                  cache root (default \$HOME/.cache/logfs)
  LOGFS_KAFKA_PORT             broker port (default 19092)
  LOGFS_KAFKA_CONTROLLER_PORT  KRaft controller port (default 19093)
  LOGFS_KAFKA_DIR              data dir (default \$LOGFS_CACHE/kafka-run-<PORT>)
  KAFKA_HEAP                   JVM heap options (default "-Xms1g -Xmx1g")
  LOGFS_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)

Current settings: jars in $LIBS
                  data in $DATA_DIR, broker at $ADDR, controller at 127.0.0.1:$CPORT
EOF
}

# ---------------------------------------------------------------- install ---

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else return 1
  fi
}

APT_UPDATED=0
apt_install() {
  # apt_install PKG...: install Debian packages, running apt-get update once if needed.
  local env=(env DEBIAN_FRONTEND=noninteractive)
  if ! as_root "${env[@]}" apt-get install -y -q --no-install-recommends "$@" </dev/null >&2; then
    [[ $APT_UPDATED -eq 1 ]] && return 1
    log "apt-get install $* failed; running apt-get update and retrying"
    as_root "${env[@]}" apt-get update -q </dev/null >&2 || return 1
    APT_UPDATED=1
    as_root "${env[@]}" apt-get install -y -q --no-install-recommends "$@" </dev/null >&2
  fi
}

ensure_tools() {
  if ! command -v java >/dev/null 2>&1; then
    log "java not found; installing openjdk-17-jre-headless"
    apt_install openjdk-17-jre-headless || die "no java and could not install it"
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    log "mvn not found; installing maven"
    apt_install maven || die "no mvn and could not install it"
  fi
  if ! command -v kcat >/dev/null 2>&1; then
    log "installing kcat (used for readiness checks)"
    apt_install kcat || log "warning: could not install kcat; falling back to a bash ApiVersions probe"
  fi
}

write_pom() {
  # write_pom FILE GROUP:ARTIFACT:VERSION...
  local file=$1; shift
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>logfs.local</groupId><artifactId>kafka-fetch</artifactId><version>1</version><packaging>pom</packaging>'
    echo '<dependencies>'
    local gav g a v
    for gav in "$@"; do
      IFS=: read -r g a v <<<"$gav"
      echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
    done
    echo '</dependencies></project>'
  } >"$file"
}

mvn_copy() {
  # mvn_copy POM OUTDIR [extra mvn args...]
  local pom=$1 out=$2; shift 2
  local mlog=$KAFKA_HOME/build/mvn.log
  if ! mvn -B -q -f "$pom" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$out" "$@" </dev/null >"$mlog" 2>&1; then
    tail -n 30 "$mlog" >&2
    die "mvn failed fetching $(grep -o '<artifactId>[^<]*</artifactId><version>[^<]*' "$pom" | tail -n +2 | sed 's/<[^>]*>/ /g' | tr -s ' ' | tr '\n' ',') (full log: $mlog)"
  fi
}

jar_version() {
  # jar_version DIR PREFIX: version part of DIR/PREFIX-<version>.jar
  local f
  f=$(cd "$1" && ls -1 "$2"-[0-9]*.jar 2>/dev/null | head -n 1) || true
  [[ -n $f ]] || return 1
  f=${f#"$2"-}; echo "${f%.jar}"
}

jar_has_class() { LC_ALL=C grep -aqF "$2" "$1"; }  # zip central dir stores names uncompressed

install_kafka() {
  if [[ -f $MARKER && -d $LIBS ]]; then
    command -v kcat >/dev/null 2>&1 || ensure_tools
    log "kafka $KAFKA_VERSION already installed in $LIBS"
    return 0
  fi
  ensure_tools
  take_lock "$KAFKA_HOME"
  if [[ -f $MARKER && -d $LIBS ]]; then log "kafka $KAFKA_VERSION installed meanwhile"; return 0; fi
  local build=$KAFKA_HOME/build tmp=$KAFKA_HOME/libs.tmp t0=$SECONDS
  rm -rf "$tmp" "$MARKER"
  mkdir -p "$build" "$tmp"
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime deps from Maven Central"

  write_pom "$build/pom.xml" "org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
  mvn_copy "$build/pom.xml" "$tmp"
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"

  # Logging binding: kafka's poms only bring slf4j-api (and log4j2 api/core on 4.x).
  local slf4j log4j binding=()
  slf4j=$(jar_version "$tmp" slf4j-api) || die "slf4j-api not among kafka's dependencies"
  if log4j=$(jar_version "$tmp" log4j-core); then
    if [[ $slf4j == 1.* ]]; then binding=("org.apache.logging.log4j:log4j-slf4j-impl:$log4j")
    else binding=("org.apache.logging.log4j:log4j-slf4j2-impl:$log4j"); fi
    echo log4j2 >"$tmp/.logging"
  else
    # Kafka 3.x: log4j 1 API via reload4j (kafka.utils.Log4jController needs it too)
    binding=("org.slf4j:slf4j-reload4j:$slf4j" "ch.qos.reload4j:reload4j:1.2.25")
    echo log4j1 >"$tmp/.logging"
  fi
  log "adding logging binding ${binding[*]}"
  write_pom "$build/pom-logging.xml" "${binding[@]}"
  mvn_copy "$build/pom-logging.xml" "$tmp" -DexcludeTransitive=true

  # The storage tool's main class moved between versions.
  local cls="" j
  for j in "$tmp"/kafka-tools-[0-9]*.jar "$tmp"/kafka-storage-[0-9]*.jar "$tmp"/kafka-server-[0-9]*.jar; do
    [[ -f $j ]] && jar_has_class "$j" org/apache/kafka/tools/StorageTool.class && cls=org.apache.kafka.tools.StorageTool
  done
  if [[ -z $cls ]] && jar_has_class "$tmp/kafka_2.13-$KAFKA_VERSION.jar" kafka/tools/StorageTool.class; then
    cls=kafka.tools.StorageTool
  fi
  [[ -n $cls ]] || die "could not find the KRaft StorageTool main class in the kafka $KAFKA_VERSION jars"
  echo "$cls" >"$tmp/.storage-tool"

  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  echo "kafka_2.13:$KAFKA_VERSION $(date -u +%FT%TZ)" >"$MARKER"
  log "installed kafka $KAFKA_VERSION ($(ls "$LIBS" | wc -l) jars, storage tool $cls) in $((SECONDS - t0))s"
}

# ------------------------------------------------------------- run state ---

# pid_of_broker: print the pid of *our* broker (the one using $PROPS), if alive.
pid_of_broker() {
  local pid=""
  if [[ -f $PID_FILE ]]; then
    pid=$(tr -dc 0-9 <"$PID_FILE")
    if [[ -n $pid ]] && is_our_broker "$pid"; then echo "$pid"; return 0; fi
  fi
  # pid file missing/stale: look for a stray broker using our config
  pid=$(pgrep -f -- "kafka\.Kafka $PROPS\$" | head -n 1) || true
  [[ -n $pid ]] && { echo "$pid"; return 0; }
  return 1
}

is_our_broker() {
  local pid=$1 cmd
  kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *kafka.Kafka\ "$PROPS"* ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# broker_answers: the broker on $PORT answers a Kafka request.
broker_answers() {
  if command -v kcat >/dev/null 2>&1; then
    local out
    out=$(timeout 10 kcat -b "$ADDR" -L -t __logfs_probe -m 3 2>/dev/null) || return 1
    [[ $out == *"broker 1 at 127.0.0.1:$PORT"* ]]
  else
    apiversions_probe
  fi
}

# Fallback without kcat: ApiVersions v0 request over /dev/tcp, expect error_code 0.
apiversions_probe() {
  port_open "$PORT" || return 1
  local hex
  hex=$(
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    # size=15, api_key=18, api_version=0, correlation_id=7, client_id="probe"
    printf '\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x07\x00\x05probe' >&3
    timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n'
  ) 2>/dev/null || return 1
  # bytes 4..7 = correlation id 7, bytes 8..9 = error code 0
  [[ ${hex:8:12} == 000000070000 ]]
}

# Byte offsets of the logs when this start began, so failures show only this run's lines.
declare -A LOG_START=()
mark_logs() {
  local f
  for f in "$LOG_DIR/server.log" "$OUT_LOG"; do
    LOG_START[$f]=$(stat -c %s "$f" 2>/dev/null || echo 0)
  done
}

log_tail() {
  local f off
  for f in "$LOG_DIR/server.log" "$OUT_LOG"; do
    [[ -s $f ]] || continue
    off=${LOG_START[$f]:-0}
    (( $(stat -c %s "$f") >= off )) || off=0   # rotated meanwhile
    (( $(stat -c %s "$f") > off )) || continue
    echo "----- last 40 lines of $f (this start) -----" >&2
    tail -c +"$((off + 1))" "$f" | tail -n 40 >&2
  done
}

# ------------------------------------------------------------------ start ---

write_config() {
  mkdir -p "$LOG_DIR" "$STORE_DIR"
  cat >"$PROPS" <<EOF
# generated by scripts/kafka.sh on every start; edits are lost
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$STORE_DIR
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
log.retention.hours=168
log.retention.check.interval.ms=300000
EOF
  cat >"$DATA_DIR/log4j2.properties" <<EOF
status = warn
name = logfs-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $LOG_DIR/server.log
appender.file.filePattern = $LOG_DIR/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF
  cat >"$DATA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$LOG_DIR/server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

java_log_opts() {
  printf '%s\n' "-Dlog4j2.configurationFile=$DATA_DIR/log4j2.properties" \
    "-Dlog4j.configuration=file:$DATA_DIR/log4j.properties" "-Dkafka.logs.dir=$LOG_DIR"
}

format_storage() {
  [[ -f $STORE_DIR/meta.properties ]] && return 0
  local cls cid flog=$LOG_DIR/format.log
  cls=$(cat "$LIBS/.storage-tool")
  # random 16-byte cluster id, Kafka's url-safe base64 Uuid form
  # (like Kafka's Uuid.randomUuid, never starting with '-', which argparse would take for an option)
  cid=-
  while [[ $cid == -* ]]; do cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'); done
  log "formatting KRaft storage in $STORE_DIR (cluster id $cid)"
  local opts; mapfile -t opts < <(java_log_opts)
  if ! java -Xmx256m "${opts[@]}" -cp "$LIBS/*" "$cls" format --ignore-formatted \
      -t "$cid" -c "$PROPS" </dev/null >"$flog" 2>&1 9>&-; then
    cat "$flog" >&2
    die "formatting storage failed ($cls)"
  fi
  [[ -f $STORE_DIR/meta.properties ]] || { cat "$flog" >&2; die "storage not formatted after $cls"; }
}

wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      rm -f "$PID_FILE"
      die "kafka exited during startup (see $LOG_DIR)"
    fi
    broker_answers && return 0
    sleep 0.5
  done
  log_tail
  die "kafka (pid $pid) did not answer on $ADDR within ${START_TIMEOUT}s (still running; '$SCRIPT_NAME stop' to kill it)"
}

start_kafka() {
  local pid t0=$SECONDS
  install_kafka
  take_lock "$DATA_DIR"
  if pid=$(pid_of_broker); then
    echo "$pid" >"$PID_FILE"
    if broker_answers; then
      log "kafka already running (pid $pid) on $ADDR"
      echo "$ADDR"
      return 0
    fi
    log "kafka process $pid exists but does not answer yet; waiting"
    wait_ready "$pid"
    log "kafka ready (pid $pid) on $ADDR"
    echo "$ADDR"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$PORT" || port_open "$CPORT"; then
    die "port $PORT or $CPORT on 127.0.0.1 is already in use by another process (set LOGFS_KAFKA_PORT / LOGFS_KAFKA_CONTROLLER_PORT)"
  fi

  mkdir -p "$DATA_DIR"
  if [[ -f $DATA_DIR/kafka.version && $(cat "$DATA_DIR/kafka.version") != "$KAFKA_VERSION" ]]; then
    log "warning: $DATA_DIR was last used by kafka $(cat "$DATA_DIR/kafka.version"), now starting $KAFKA_VERSION ('stop --wipe' for a fresh dir)"
  fi
  write_config
  format_storage
  echo "$KAFKA_VERSION" >"$DATA_DIR/kafka.version"

  local opts; mapfile -t opts < <(java_log_opts)
  local -a heap; read -r -a heap <<<"$HEAP_OPTS"
  log "starting kafka $KAFKA_VERSION on $ADDR (controller 127.0.0.1:$CPORT, data $DATA_DIR)"
  mark_logs
  echo "===== $(date -u +%FT%TZ) start kafka $KAFKA_VERSION =====" >>"$OUT_LOG"
  # setsid: own session, so the broker survives the caller's terminal/process group.
  setsid nohup java "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:G1HeapRegionSize=16m -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true "${opts[@]}" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$OUT_LOG" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
  log "kafka ready (pid $pid) on $ADDR after $((SECONDS - t0))s"
  echo "$ADDR"
}

# ------------------------------------------------------------------- stop ---

stop_kafka() {
  local wipe=0 arg
  for arg in "$@"; do
    case $arg in
      --wipe) wipe=1 ;;
      *) die "stop: unknown option '$arg'" ;;
    esac
  done
  local pid stopped=0
  [[ -d $DATA_DIR ]] && take_lock "$DATA_DIR"
  while pid=$(pid_of_broker); do
    log "stopping kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "kafka (pid $pid) still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    stopped=1
  done
  if [[ -f $PID_FILE ]]; then
    [[ $stopped -eq 1 ]] || log "removing stale pid file (process $(cat "$PID_FILE") is gone)"
    rm -f "$PID_FILE"
  fi
  if [[ $stopped -eq 1 ]]; then log "kafka stopped"; else log "kafka was not running"; fi
  if [[ $wipe -eq 1 && -d $DATA_DIR ]]; then
    log "wiping $DATA_DIR"
    rm -rf "$DATA_DIR"
  fi
}

# ----------------------------------------------------------------- status ---

status_kafka() {
  local pid
  if pid=$(pid_of_broker); then
    if broker_answers; then
      log "kafka $KAFKA_VERSION running (pid $pid)"
      echo "$ADDR"
      return 0
    fi
    log "kafka process $pid exists but does not answer on $ADDR"
    return 1
  fi
  log "kafka not running (data dir $DATA_DIR)"
  return 1
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    install) [[ $# -eq 0 ]] || die "install takes no options"; install_kafka ;;
    start) [[ $# -eq 0 ]] || die "start takes no options"; start_kafka ;;
    stop) stop_kafka "$@" ;;
    status) status_kafka ;;
    datadir) echo "$STORE_DIR" ;;
    -h|--help|help) usage ;;
    "") usage >&2; exit 2 ;;
    *) log "unknown command '$cmd'"; usage >&2; exit 2 ;;
  esac
}

main "$@"
