#!/usr/bin/env bash
# redmine-server.sh -- a real Redmine 5 (Debian packages, SQLite) on 127.0.0.1 for
# fieldsync's integration tests. Run as root on Debian 12 (bookworm).
#
# Usage:
#   redmine-server.sh install
#       apt-get install redmine redmine-sqlite thin curl (non-interactive), only if missing.
#   redmine-server.sh start WORKDIR [PORT] [--watch-pid PID]
#       Start a private Redmine instance whose data lives in WORKDIR (created if needed).
#       PORT: default = the port recorded in WORKDIR/env (restart), else a free port.
#       A new WORKDIR is initialised (default data, REST API on, login required, users
#       admin/fieldsync (admins, with API keys) and alice/bob, 8 issue custom fields),
#       from a cached template DB when one exists. Writes WORKDIR/env and prints the same
#       KEY=VALUE lines as the last lines of stdout:
#         REDMINE_URL REDMINE_API_KEY REDMINE_SYNC_API_KEY REDMINE_PID REDMINE_PORT
#         REDMINE_WORK REDMINE_INSTANCE
#       --watch-pid PID: a detached watcher destroys the instance when PID exits.
#   redmine-server.sh stop WORKDIR      stop the server, keep the data (start restarts it)
#   redmine-server.sh destroy WORKDIR   stop, remove the instance symlink and WORKDIR
#
# Environment: FIELDSYNC_REDMINE_CACHE (template cache, default
#   /var/tmp/fieldsync-redmine-template). Progress goes to stderr; stdout only has KEY=VALUE.
#
# Pitfalls that shaped this script:
#  - rails server needs thin (ruby-webrick alone: 'Could not find server ""').
#  - db:migrate and load_default_data in ONE process fail silently (exit 0, no trackers):
#    run migrate and the setup runner as two processes, and check Tracker.count.
#  - load_default_data without a language waits on stdin: load "en" explicitly.
#  - db:migrate as root rewrites the package's db/schema.rb unless SCHEMA=/dev/null.
#  - Without login_required a wrong API key is answered 200 as anonymous.
#  - The REST API cannot create custom fields (403): they are made in rails runner.
#  - Redmine stores times in the local zone: the server runs with TZ=UTC.
#  - The pid changes on restart: stop always reads WORKDIR/tmp/pids/server.pid.
#  - Background processes (server, watcher) must not inherit the caller's stdout/stderr
#    (cargo test would hang) nor the template flock fd (the lock would never be freed).
set -euo pipefail

SELF="$(realpath "${BASH_SOURCE[0]}")"
REDMINE_DIR=/usr/share/redmine
INSTANCES_DIR=/var/lib/redmine
PACKAGES=(redmine redmine-sqlite thin curl)
CACHE_ROOT="${FIELDSYNC_REDMINE_CACHE:-/var/tmp/fieldsync-redmine-template}"
MARKER=.fieldsync-redmine         # in WORKDIR: "this folder is ours" (destroy rm -rf's it)
READY_TIMEOUT=60                  # seconds to wait for the first 200 from the API
T0=$(date +%s%N)

# ---------------------------------------------------------------------------------
# Setup run once per new instance (in its own rails runner, after db:migrate).
# Its hash is part of the template key: editing it invalidates cached templates.
SETUP_RUBY=$(cat <<'RUBY'
work = ENV.fetch("FIELDSYNC_WORK")
Redmine::DefaultData::Loader.load("en") if Redmine::DefaultData::Loader.no_data?
unless Tracker.count >= 3 && IssueStatus.count > 0 && Role.givable.count > 0
  raise "default data missing (trackers: #{Tracker.count})"
end
Setting.rest_api_enabled = "1"
Setting.login_required   = "1"   # wrong/missing key -> 401 instead of anonymous 200

admin = User.find_by_login!("admin")
admin.must_change_passwd = false
admin.save!

def fieldsync_user(login, firstname, lastname, mail, admin)
  u = User.new
  u.login = login                # not mass-assignable
  u.firstname, u.lastname, u.mail = firstname, lastname, mail
  u.admin = admin
  u.status = User::STATUS_ACTIVE
  u.language = "en"
  u.password = u.password_confirmation = SecureRandom.hex(16)
  u.save!
  u
end
sync = fieldsync_user("fieldsync", "Field", "Sync", "fieldsync@example.net", true)
fieldsync_user("alice", "Alice", "Example", "alice@example.net", false)
fieldsync_user("bob", "Bob", "Example", "bob@example.net", false)

common = { is_for_all: true, is_filter: true, visible: true, trackers: Tracker.all.to_a }
[
  { name: "Story points",    field_format: "float" },
  { name: "Team",            field_format: "list", possible_values: %w[Alpha Beta Gamma] },
  { name: "Components",      field_format: "list", possible_values: %w[UI API DB], multiple: true },
  { name: "Customer",        field_format: "string" },
  { name: "Estimate",        field_format: "int" },
  { name: "Review date",     field_format: "date" },
  { name: "Reviewer",        field_format: "user" },
  { name: "Correlation key", field_format: "string", searchable: true },
  { name: "Size",            field_format: "list", possible_values: %w[XS S M L XL] },
].each do |attrs|
  cf = IssueCustomField.create!(common.merge(attrs))
  $stderr.puts "custom field #{cf.id}: #{cf.name} (#{cf.field_format})"
end

File.write(File.join(work, "api_key"), admin.api_key + "\n")       # creates the token
File.write(File.join(work, "sync_api_key"), sync.api_key + "\n")
RUBY
)

# ---------------------------------------------------------------------------------
log()  { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[redmine-server %d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2; }
die()  { printf 'redmine-server.sh: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/stdout only has KEY=VALUE/p' "$SELF" | cut -c3- >&2; exit 2; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and writes $INSTANCES_DIR)"; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || printf '%s\n' "$p"
  done | paste -sd' ' -
}

# WORKDIR -> absolute path; restricted charset so env lines need no quoting.
abs_workdir() {
  [ -n "${1:-}" ] || die "WORKDIR missing"
  local w; w="$(realpath -m -- "$1")"
  [[ "$w" =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "WORKDIR '$w' must match [A-Za-z0-9._/+-] (env lines are unquoted)"
  case "$w" in /|/tmp|/var|/var/tmp|/root|/home|/usr|/etc|"$INSTANCES_DIR"*) die "refusing WORKDIR '$w'";; esac
  printf '%s\n' "$w"
}

# Instance name from the path: readable part of the basename + hash of the full path,
# so /x/a and /y/a do not collide.
instance_name() {
  local base hash
  base="$(basename "$1" | tr -cd 'A-Za-z0-9' | cut -c1-16)"
  hash="$(printf '%s' "$1" | sha256sum | cut -c1-8)"
  printf 'fs%s%s\n' "$base" "$hash"
}

# Is PID the Redmine server of instance INST? (guards against recycled pids)
is_server_of() {
  local pid="$1" inst="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/environ" ] || return 1
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "REDMINE_INSTANCE=$inst"
}

server_pid() {   # current server pid of WORK/INST, or nothing
  local work="$1" inst="$2" pid=""
  pid="$(cat "$work/tmp/pids/server.pid" 2>/dev/null || true)"
  if ! is_server_of "$pid" "$inst"; then
    pid="$(env_value "$work" REDMINE_PID)"
    is_server_of "$pid" "$inst" || pid=""
  fi
  printf '%s' "$pid"
}

env_value() { sed -n "s/^$2=//p" "$1/env" 2>/dev/null | tail -n1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  if command -v python3 >/dev/null 2>&1 &&
     python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null; then
    return
  fi
  local p _
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free port found"
}

# Kill a process group (the server is a session leader via setsid), wait, SIGKILL after ~5 s.
kill_and_wait() {
  local pid="$1" target="$1" _
  [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target="-$pid"
  kill -TERM -- "$target" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "pid $pid still alive after 5 s: SIGKILL"
  kill -KILL -- "$target" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  die "could not kill pid $pid"
}

# Run "$@" detached: own session (setsid), stdin /dev/null, stdout+stderr to LOGFILE and
# no other inherited fd (a daemon holding a caller's pipe makes `cargo test` hang; one
# holding the template flock fd would keep the lock forever). $! = the process' pid.
spawn_detached() {
  local logfile="$1"; shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ]; then exec {fd}>&-; fi
    done
    exec setsid nohup "$@"
  ) > "$logfile" 2>&1 < /dev/null &
}

# ---------------------------------------------------------------------------------
cmd_install() {
  need_root
  local missing; missing="$(missing_packages)"
  if [ -z "$missing" ]; then log "packages present: ${PACKAGES[*]}"; return; fi
  log "installing ${PACKAGES[*]} (missing: $missing)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || die "apt-get update failed"
  # dbconfig-common answers for the package's own "default" instance (SQLite); our
  # private instances do not use it, but this keeps the install prompt-free.
  debconf-set-selections <<'EOF' || die "debconf-set-selections failed"
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
EOF
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2 || die "apt-get install failed"
  missing="$(missing_packages)"
  [ -z "$missing" ] || die "still missing after install: $missing"
  log "installed: $(dpkg-query -W -f='${Package} ${Version} ' "${PACKAGES[@]}")"
}

# Rails/bundler commands of instance $INST, in the package folder.
in_redmine() {
  (cd "$REDMINE_DIR" && env REDMINE_INSTANCE="$INST" RAILS_ENV=production TZ=UTC FIELDSYNC_WORK="$WORK" "$@")
}

prepare_dirs() {
  mkdir -p "$WORK"/{config,log,tmp/pids,tmp/cache,files,public/plugin_assets,db}
  cat > "$WORK/config/database.yml" <<EOF
production:
  adapter: sqlite3
  database: $WORK/db/redmine.sqlite3
  encoding: utf8
EOF
  [ -s "$WORK/config/secret_key.txt" ] ||
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$WORK/config/secret_key.txt"
  mkdir -p "$INSTANCES_DIR"
  ln -sfnT "$WORK" "$INSTANCES_DIR/$INST" || die "cannot link $INSTANCES_DIR/$INST -> $WORK"
}

# Full initialisation: migrate, then the setup runner (separate processes).
initialise_db() {
  rm -f "$WORK/db/redmine.sqlite3" "$WORK/api_key" "$WORK/sync_api_key"
  log "migrating (log: $WORK/log/setup-migrate.log)"
  in_redmine env SCHEMA=/dev/null bundle exec rake db:migrate > "$WORK/log/setup-migrate.log" 2>&1 ||
    { tail -n 30 "$WORK/log/setup-migrate.log" >&2; die "db:migrate failed"; }
  log "loading default data, settings, users, keys, custom fields (log: $WORK/log/setup-runner.log)"
  in_redmine bundle exec rails runner "$SETUP_RUBY" > "$WORK/log/setup-runner.log" 2>&1 ||
    { tail -n 30 "$WORK/log/setup-runner.log" >&2; die "setup runner failed"; }
  grep '^custom field' "$WORK/log/setup-runner.log" >&2 || true
  [[ -s "$WORK/api_key" && -s "$WORK/sync_api_key" ]] || die "setup runner wrote no API keys"
}

# New WORKDIR: copy the cached template, or build it (under a lock, so concurrent starts
# wait for one build instead of racing).
initialise_instance() {
  local version hash key tpl tmp
  version="$(dpkg-query -W -f='${Version}' redmine)"
  hash="$(printf '%s' "$SETUP_RUBY" | sha256sum | cut -c1-12)"
  key="redmine-${version//[^A-Za-z0-9.+-]/_}-$hash"
  tpl="$CACHE_ROOT/$key"
  mkdir -p "$CACHE_ROOT" || die "cannot create cache folder $CACHE_ROOT"
  exec 9> "$CACHE_ROOT/$key.lock"
  flock -w 600 9 || die "timed out waiting for the template lock $CACHE_ROOT/$key.lock"
  if [ -s "$tpl/redmine.sqlite3" ] && [ -s "$tpl/api_key" ] && [ -s "$tpl/sync_api_key" ]; then
    log "copying template $tpl"
    cp "$tpl/redmine.sqlite3" "$WORK/db/redmine.sqlite3"
    cp "$tpl/api_key" "$tpl/sync_api_key" "$WORK/"
  else
    log "no template at $tpl: initialising from scratch"
    initialise_db
    tmp="$(mktemp -d "$CACHE_ROOT/.$key.XXXXXX")"
    cp "$WORK/db/redmine.sqlite3" "$WORK/api_key" "$WORK/sync_api_key" "$tmp/"
    rm -rf "$tpl"
    mv -T "$tmp" "$tpl"
    log "template saved: $tpl"
  fi
  exec 9>&-      # release the lock (and never let the server inherit it)
  touch "$WORK/initialised"
}

cmd_start() {
  local work="" port="" watch_pid="" positional=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --watch-pid)   [ $# -ge 2 ] || die "--watch-pid needs a PID"; watch_pid="$2"; shift 2;;
      --watch-pid=*) watch_pid="${1#*=}"; shift;;
      -*)            die "unknown option '$1'";;
      *)             positional+=("$1"); shift;;
    esac
  done
  [[ ${#positional[@]} -ge 1 && ${#positional[@]} -le 2 ]] || die "usage: start WORKDIR [PORT] [--watch-pid PID]"
  need_root
  work="$(abs_workdir "${positional[0]}")"
  port="${positional[1]:-}"
  if [ -n "$port" ]; then
    [[ "$port" =~ ^[0-9]{1,5}$ ]] && port=$((10#$port))
    [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] || die "invalid PORT '$port'"
  fi
  if [ -n "$watch_pid" ]; then
    [[ "$watch_pid" =~ ^[0-9]+$ ]] || die "invalid --watch-pid '$watch_pid'"
    kill -0 "$watch_pid" 2>/dev/null || die "--watch-pid $watch_pid: no such process"
  fi
  local missing; missing="$(missing_packages)"
  [ -z "$missing" ] || die "Redmine packages missing ($missing): run 'scripts/redmine-server.sh install' first"

  WORK="$work"; INST="$(instance_name "$WORK")"
  if [ -e "$WORK" ] && [ ! -e "$WORK/$MARKER" ] && [ -n "$(ls -A "$WORK")" ]; then
    die "$WORK exists, is not empty and is not a redmine-server.sh WORKDIR"
  fi
  mkdir -p "$WORK"; touch "$WORK/$MARKER"

  local running; running="$(server_pid "$WORK" "$INST")"
  [ -z "$running" ] || die "a server is already running for $WORK (pid $running): stop it first"

  if [ -z "$port" ] && [ -f "$WORK/initialised" ]; then port="$(env_value "$WORK" REDMINE_PORT)"; fi
  [ -n "$port" ] || port="$(free_port)"
  port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"

  prepare_dirs
  if [ -f "$WORK/initialised" ]; then
    log "restarting existing instance $INST in $WORK on port $port"
  else
    log "new instance $INST in $WORK on port $port"
    initialise_instance
  fi
  local key sync_key
  key="$(cat "$WORK/api_key")"; sync_key="$(cat "$WORK/sync_api_key")"

  # The server: detached, TZ=UTC, in the package folder.
  rm -f "$WORK/tmp/pids/server.pid"
  log "starting server (log: $WORK/log/server.out)"
  spawn_detached "$WORK/log/server.out" \
    env -C "$REDMINE_DIR" REDMINE_INSTANCE="$INST" RAILS_ENV=production TZ=UTC \
    bundle exec rails server -e production -b 127.0.0.1 -p "$port" -P "$WORK/tmp/pids/server.pid"
  local launched=$! code="" deadline=$((SECONDS + READY_TIMEOUT))
  while :; do
    code="$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' -H "X-Redmine-API-Key: $key" \
            "http://127.0.0.1:$port/users/current.json" || true)"
    [ "$code" = 200 ] && break
    if ! kill -0 "$launched" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      kill -0 "$launched" 2>/dev/null && kill_and_wait "$launched"
      echo "---- tail of $WORK/log/server.out ----" >&2; tail -n 30 "$WORK/log/server.out" >&2 || true
      echo "---- tail of $WORK/log/production.log ----" >&2; tail -n 20 "$WORK/log/production.log" >&2 || true
      die "Redmine on port $port did not answer 200 (last HTTP code: ${code:-none})"
    fi
    sleep 0.2
  done
  # The answer must come from this server: one that lost its port to another server
  # (started at the same moment) exits, while the other answers the health check.
  sleep 0.5
  kill -0 "$launched" 2>/dev/null || die "the server on port $port exited after start (port taken by another server?); see $WORK/log/server.out"
  local pid; pid="$(cat "$WORK/tmp/pids/server.pid" 2>/dev/null || echo "$launched")"
  log "API answers 200 (server pid $pid)"

  if [ -n "$watch_pid" ]; then start_watcher "$watch_pid"; fi

  cat > "$WORK/env.tmp" <<EOF
REDMINE_URL=http://127.0.0.1:$port
REDMINE_API_KEY=$key
REDMINE_SYNC_API_KEY=$sync_key
REDMINE_PID=$pid
REDMINE_PORT=$port
REDMINE_WORK=$WORK
REDMINE_INSTANCE=$INST
EOF
  mv -f "$WORK/env.tmp" "$WORK/env"
  cat "$WORK/env"
}

# ---- watcher: destroy the instance when a given process exits ---------------------
# /proc/PID/stat after the "(comm) " field: state is field 1, start time field 20.
proc_stat() { local st; st="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; printf '%s\n' "${st##*) }"; }
proc_start_time() { proc_stat "$1" | awk '{print $20}'; }     # guards against PID reuse
proc_alive() {      # PID START_TIME: alive, not a zombie, same process
  local st; st="$(proc_stat "$1")" || return 1
  [ "$(awk '{print $1}' <<<"$st")" != Z ] && [ "$(awk '{print $20}' <<<"$st")" = "$2" ]
}

start_watcher() {
  local old; old="$(cat "$WORK/watch.pid" 2>/dev/null || true)"
  if [[ "$old" =~ ^[0-9]+$ ]] && grep -qa "_watch" "/proc/$old/cmdline" 2>/dev/null; then
    kill -- "-$old" 2>/dev/null || kill "$old" 2>/dev/null || true      # replaced by the new one
  fi
  spawn_detached "$WORK/log/watch.log" bash "$SELF" _watch "$1" "$(proc_start_time "$1")" "$WORK"
  echo $! > "$WORK/watch.pid"
  log "watcher pid $! destroys $WORK when pid $1 exits (log: $WORK/log/watch.log)"
}

cmd_watch() {   # internal: _watch PID START_TIME WORKDIR
  local pid="$1" start="$2"; WORK="$3"
  cd /
  log "watching pid $pid for $WORK"
  while proc_alive "$pid" "$start" && [ -e "$WORK/$MARKER" ]; do sleep 0.5; done
  [ -e "$WORK/$MARKER" ] || { log "$WORK is gone: nothing to do"; return; }
  log "pid $pid is gone: destroying $WORK"
  rm -f "$WORK/watch.pid"
  cmd_destroy "$WORK"
}

# ---- stop / destroy -----------------------------------------------------------------
cmd_stop() {
  [ $# -eq 1 ] || die "usage: stop WORKDIR"
  WORK="$(abs_workdir "$1")"; INST="$(instance_name "$WORK")"
  [ -e "$WORK/$MARKER" ] || die "$WORK is not a redmine-server.sh WORKDIR"
  local pid; pid="$(server_pid "$WORK" "$INST")"
  if [ -z "$pid" ]; then log "no server running for $WORK"; return; fi
  log "stopping server pid $pid"
  kill_and_wait "$pid"
  rm -f "$WORK/tmp/pids/server.pid"
  log "stopped"
}

cmd_destroy() {
  [ $# -eq 1 ] || die "usage: destroy WORKDIR"
  need_root
  WORK="$(abs_workdir "$1")"; INST="$(instance_name "$WORK")"
  if [ -e "$WORK" ]; then
    [ -e "$WORK/$MARKER" ] || die "$WORK is not a redmine-server.sh WORKDIR: not removing it"
    cmd_stop "$WORK"
    local watcher; watcher="$(cat "$WORK/watch.pid" 2>/dev/null || true)"
    if [[ "$watcher" =~ ^[0-9]+$ ]] && [ "$watcher" != $$ ] && grep -qa "_watch" "/proc/$watcher/cmdline" 2>/dev/null; then
      kill -- "-$watcher" 2>/dev/null || kill "$watcher" 2>/dev/null || true
    fi
  else
    log "$WORK does not exist"
  fi
  if [ -L "$INSTANCES_DIR/$INST" ]; then rm -f "$INSTANCES_DIR/$INST"; fi
  rm -rf "$WORK"
  log "destroyed $WORK (instance $INST)"
}

# ---------------------------------------------------------------------------------
[ $# -ge 1 ] || usage
cmd="$1"; shift
case "$cmd" in
  install) [ $# -eq 0 ] || die "usage: install"; cmd_install;;
  start)   cmd_start "$@";;
  stop)    cmd_stop "$@";;
  destroy) cmd_destroy "$@";;
  _watch)  cmd_watch "$@";;
  -h|--help|help) usage;;
  *)       die "unknown sub-command '$cmd' (install | start | stop | destroy)";;
esac
