# Shared by stack.sh, unstack.sh and tempest.sh (sourced, not run).
#
# Every process the stack starts is started by start_service: in a session
# of its own (setsid), output to $LOGS/NAME.log, and its PID plus its start
# time (field 22 of /proc/PID/stat) in $PIDS/NAME.pid.  stop_service signals
# that session only, and only if the PID still has the recorded start time,
# so a recycled PID is never hit.  Nothing is ever stopped by name.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${STACK_STATE:-$REPO/harness/state/stack}
# The venv: the one tox gives (stack or stack-nova), else the one the
# running stack was started from (tempest and unstack install nothing).
VENV=${STACK_VENV:-$(cat "$STATE/venv" 2>/dev/null || echo "$REPO/.tox/stack")}
LOGS=$STATE/logs
PIDS=$STATE/pids
ETC=$STATE/etc
HOST=127.0.0.1
EMULATOR=$REPO/harness/emulator/lustre-emulator

# Fixed, local-only credentials of this throw-away stack.
DB_USER=stack
DB_PASSWORD=stack-db
RABBIT_USER=stack
RABBIT_PASSWORD=stack-rabbit
ADMIN_PASSWORD=stack-admin
SERVICE_PASSWORD=stack-service

# The Lustre file systems the emulator provides for the stack: stackfs
# for the first back end and the backups, stackfs2 for the second back
# end (multi-backend and migration between back ends).
LUSTRE_FS=stackfs
LUSTRE_FS2=stackfs2
LUSTRE_NID=10.0.0.1@tcp
VOLUME_SHARE=$LUSTRE_NID:/$LUSTRE_FS/volumes
VOLUME_SHARE2=$LUSTRE_NID:/$LUSTRE_FS2/volumes
BACKUP_SHARE=$LUSTRE_NID:/$LUSTRE_FS/backups
BACKEND=lustre
BACKEND2=lustre-2

if [ -t 1 ]; then
    C_OK=$'\e[32m' C_BAD=$'\e[31m' C_DIM=$'\e[2m' C_OFF=$'\e[0m'
else
    C_OK='' C_BAD='' C_DIM='' C_OFF=''
fi

say() { printf '%s\n' "$*"; }
die() { printf '%sERROR:%s %s\n' "$C_BAD" "$C_OFF" "$*" >&2; exit 1; }

# --- processes ---------------------------------------------------------------

_starttime() {  # PID -> start time in clock ticks, or nothing
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }            # drop "pid (comm) ", comm may hold spaces
    # shellcheck disable=SC2086
    set -- $stat                 # field 3 of the file is $1 here
    printf '%s' "${20}"
}

service_pid() {  # NAME -> PID if the recorded process is still running
    local file=$PIDS/$1.pid pid start
    [ -f "$file" ] || return 1
    read -r pid start < "$file" || return 1
    [ -n "$pid" ] && [ "$(_starttime "$pid")" = "$start" ] || return 1
    printf '%s' "$pid"
}

service_running() { service_pid "$1" > /dev/null; }

start_service() {  # NAME COMMAND... (extra env: prefix the call with env)
    local name=$1 pid
    shift
    mkdir -p "$LOGS" "$PIDS"
    printf '\n==== %s: start %s\n' "$(date -Is)" "$*" >> "$LOGS/$name.log"
    setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
    pid=$!
    printf '%s %s\n' "$pid" "$(_starttime "$pid")" > "$PIDS/$name.pid"
    sleep 0.2
    service_running "$name" || {
        tail -n 30 "$LOGS/$name.log" >&2
        die "$name exited at once (log: $LOGS/$name.log)"
    }
}

# stop_service NAME [TIMEOUT]: TERM the process we started (the session
# leader: uwsgi's master, not its workers, which a TERM would respawn), then
# KILL its session after TIMEOUT s, and always whatever is left in it.
stop_service() {
    local name=$1 timeout=${2:-30} pid i
    if ! pid=$(service_pid "$name"); then
        rm -f "$PIDS/$name.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 5; i++)); do
        service_running "$name" || break
        sleep 0.2
    done
    if service_running "$name"; then
        say "  $name did not stop in ${timeout}s: KILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
        sleep 0.5
    fi
    # Children left in the session (uwsgi workers, rabbit's helpers).
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PIDS/$name.pid"
    say "  stopped $name (pid $pid)"
}

# --- waiting -----------------------------------------------------------------

wait_for() {  # TIMEOUT DESCRIPTION COMMAND...: retry COMMAND every second
    local timeout=$1 what=$2 i
    shift 2
    for ((i = 0; i < timeout; i++)); do
        if "$@" > /dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    say "timed out after ${timeout}s waiting for $what" >&2
    return 1
}

port_open() { (exec 3<> "/dev/tcp/$HOST/$1") 2> /dev/null; }

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1"; }

# --- reporting ---------------------------------------------------------------

STEP_NO=0

# explain LOG...: the lines of the logs that tell why something failed:
# ERROR/CRITICAL records and tracebacks among their last 2000 lines.
ERROR_LINES=' (ERROR|CRITICAL) |^Traceback|^[A-Za-z_.]+(Error|Exception): '

explain() {
    local log errors
    for log in "$@"; do
        [ -f "$log" ] || continue
        errors=$(tail -n 2000 "$log" | grep -v 'log_opt_values' \
                 | grep -E -A 8 "$ERROR_LINES" | tail -n 40 || true)
        say "${C_DIM}---- ${log#"$REPO"/}${C_OFF}"
        if [ -n "$errors" ]; then
            printf '%s\n' "$errors" | cut -c 1-400
        else
            say "(no errors logged; its last lines:)"
            tail -n 8 "$log" | cut -c 1-400
        fi
    done
}

# step DESCRIPTION LOGS COMMAND...: run COMMAND, print the outcome and time;
# on failure print its output and the errors in LOGS (space separated names
# under $LOGS) and exit.
step() {
    local what=$1 logs=$2 start out rc name files=()
    shift 2
    STEP_NO=$((STEP_NO + 1))
    start=$EPOCHREALTIME
    printf '[%2d] %-58s ' "$STEP_NO" "$what"
    out=$(mktemp)
    # In the background, not in an `if`: errexit stays in force inside
    # COMMAND (bash ignores set -e in a condition's functions).
    "$@" > "$out" 2>&1 &
    if wait $!; then rc=0; else rc=$?; fi
    printf '%s %5.1fs\n' \
        "$([ $rc = 0 ] && echo "${C_OK}ok${C_OFF}  " || echo "${C_BAD}FAIL${C_OFF}")" \
        "$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN {print e - s}')"
    if [ -n "${STEP_VERBOSE:-}" ] || [ $rc != 0 ]; then
        sed 's/^/     | /' "$out" | tail -n 40
    fi
    rm -f "$out"
    if [ $rc != 0 ]; then
        for name in $logs; do files+=("$LOGS/$name.log"); done
        explain "${files[@]}"
        die "step '$what' failed (logs in ${LOGS#"$REPO"/})"
    fi
}

# --- credentials -------------------------------------------------------------

admin_env() {
    export OS_AUTH_URL=http://$HOST:5000/v3 OS_IDENTITY_API_VERSION=3
    export OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASSWORD
    export OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default
    export OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne
    export OS_VOLUME_API_VERSION=3
    export PATH=$VENV/bin:$PATH
}

# --- the cinder API with curl (cheap polling; the CLI costs seconds a call) ---

# api_login: admin token and project id into $TOKEN and $PROJECT_ID.
api_login() {
    local body headers
    headers=$(mktemp)
    body=$(curl -fsS -D "$headers" -H 'Content-Type: application/json' \
        "http://$HOST:5000/v3/auth/tokens" -d @- <<EOF_JSON
{"auth": {"identity": {"methods": ["password"], "password": {"user":
  {"name": "admin", "domain": {"id": "default"}, "password": "$ADMIN_PASSWORD"}}},
 "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
EOF_JSON
    )
    TOKEN=$(sed -n 's/^x-subject-token: *\([^[:space:]]*\).*/\1/ip' "$headers")
    rm -f "$headers"
    PROJECT_ID=$(json_get token.project.id <<< "$body")
    export TOKEN PROJECT_ID
}

# json_get a.b.c < JSON: print that value ('' if absent).
json_get() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value)' "$1"
}

cinder_get() {  # PATH (after /v3/PROJECT)
    [ -n "${TOKEN:-}" ] || api_login
    curl -fsS -H "X-Auth-Token: $TOKEN" \
        "http://$HOST:8776/v3/$PROJECT_ID$1"
}
