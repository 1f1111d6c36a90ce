#!/bin/bash
# Run Tempest's volume API tests and cinder-tempest-plugin's against the
# running stack (start it with `tox -e stack` first).
#
#   tox -e tempest                  the whole selection, concurrency 2
#   tox -e tempest -- REGEX         a narrower selection
#
# Writes $STATE/tempest/ (a `tempest init` workspace): etc/tempest.conf,
# results.subunit, tempest-run.log, summary.txt.  The skip list
# (skip-list.txt next to this script, one regex and its reason per entry)
# is passed as --exclude-list.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WORKSPACE=$STATE/tempest
CONCURRENCY=${TEMPEST_CONCURRENCY:-2}
DEFAULT_REGEX='^(tempest\.api\.volume|cinder_tempest_plugin\.api\.volume)\.'
SKIP_LIST=$HERE/skip-list.txt

cinder_conf_get() {  # SECTION KEY: a value from the stack's cinder.conf
    python3 - "$ETC/cinder/cinder.conf" "$1" "$2" <<'EOF'
import configparser, sys
parser = configparser.RawConfigParser(strict=False)
parser.read(sys.argv[1])
print(parser.get(sys.argv[2], sys.argv[3]))
EOF
}

check_stack() {
    [ -x "$VENV/bin/tempest" ] || die "no stack venv at $VENV: run tox -e stack"
    [ -f "$ETC/cinder/cinder.conf" ] || die "no stack: run tox -e stack"
    http_ok http://$HOST:5000/v3 || die "keystone is not answering: run tox -e stack"
    http_ok http://$HOST:8776/ || die "cinder-api is not answering: run tox -e stack"
}

image_named() {  # NAME: its id in glance
    curl -fsS -H "X-Auth-Token: $TOKEN" \
        "http://$HOST:9292/v2/images?name=$1" | python3 -c \
        'import json, sys; print(json.load(sys.stdin)["images"][0]["id"])'
}

# With Nova (tox -e stack-nova): servers boot the stack's guest
# (harness/stack/guest), on a network Tempest makes per project (OVN).
nova_up() { [ -f "$ETC/nova/nova.conf" ] && http_ok http://$HOST:8774/; }

compute_conf() {
    if ! nova_up; then
        printf '[compute]\nimage_ref = %s\nimage_ref_alt = %s\n' \
            "$1" "$1"
        return
    fi
    local guest
    guest=$(image_named stack-guest)
    cat <<EOF
[compute]
image_ref = $guest
image_ref_alt = $guest
flavor_ref = 42
flavor_ref_alt = 84
build_timeout = 300
min_compute_nodes = 1
max_microversion = latest

[compute-feature-enabled]
console_output = true
volume_multiattach = true
attach_encrypted_volume = true
snapshot = true
resize = false
cold_migration = false
live_migration = false
shelve = false
rescue = false
suspend = false
pause = false
interface_attach = false
config_drive = false
vnc_console = false
spice_console = false
serial_console = false

[network]
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
shared_physical_network = false

[network-feature-enabled]
ipv6 = false
EOF
}

write_tempest_conf() {
    local backends image_ref service
    # Both back ends: the first is where the default type puts volumes
    # (the manage test's reference names its share); the retype-with-
    # migration class migrates from the first to the second.
    backends=$(cinder_conf_get "$BACKEND" volume_backend_name),$(cinder_conf_get "$BACKEND2" volume_backend_name)
    api_login
    # stack.sh uploads it; the copy-image tests use it.
    image_ref=$(image_named stack-tiny)
    service=false
    ! nova_up || service=true
    # The workspace registry is kept in the state folder too: the global
    # one (~/.tempest) would tie the name to another checkout's stack.
    [ -d "$WORKSPACE/etc" ] || "$VENV/bin/tempest" init \
        --workspace-path "$STATE/tempest-workspaces.yaml" "$WORKSPACE" \
        > /dev/null
    cat > "$WORKSPACE/etc/tempest.conf" <<EOF
[DEFAULT]
log_file = tempest.log
debug = true

[auth]
use_dynamic_credentials = true
admin_username = admin
admin_password = $ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
tempest_roles = member

[identity]
uri_v3 = http://$HOST:5000/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v3 = true

[service_available]
cinder = true
glance = true
nova = $service
neutron = $service
swift = false
horizon = false

[enforce_scope]
cinder = true
keystone = true
glance = true

$(compute_conf "$image_ref")

[image]
build_timeout = 300

[validation]
run_validation = false

[volume]
backend_names = $backends
# What LustreDriver reports in its stats (get-capabilities), checked by
# tempest.api.volume.admin.test_backends_capabilities.
storage_protocol = lustre
vendor_name = Open Source
build_timeout = 300
max_microversion = latest
volume_size = 1
# RemoteFS drivers manage a file named by its share-qualified path.
manage_volume_ref = source-name,$VOLUME_SHARE/volume-%s

[volume-feature-enabled]
backup = true
snapshot = true
clone = true
multi_backend = true
manage_volume = true
manage_snapshot = false
extend_volume_with_snapshot = true
extend_attached_volume = false
volume_revert = true
consistency_group = false
EOF
}

run_tempest() {
    local regex=${1:-$DEFAULT_REGEX} args=() rc
    # tempest reads one regex per line; our file has "regex  # reason".
    # Entries whose reason starts with "no nova:" apply only without Nova.
    grep -v '^\s*\(#\|$\)' "$SKIP_LIST" 2>/dev/null \
        | { if nova_up; then grep -v '#[[:space:]]*no nova:' || true; else cat; fi; } \
        | sed -e 's/[[:space:]]*#.*//' -e '/^$/d' > "$WORKSPACE/exclude-list.txt"
    if [ -s "$WORKSPACE/exclude-list.txt" ]; then
        args+=(--exclude-list "$WORKSPACE/exclude-list.txt")
    fi
    cd "$WORKSPACE"
    say "tempest run --concurrency $CONCURRENCY --regex '$regex' ${args[*]}"
    set +e
    "$VENV/bin/tempest" run --concurrency "$CONCURRENCY" --regex "$regex" \
        "${args[@]}" 2>&1 | tee "$WORKSPACE/tempest-run.log" \
        | grep -E --line-buffered '^\{[0-9]+\} .*(ok|FAILED|SKIPPED)|^Totals|^=+$|^ - ' \
        | grep --line-buffered -vE '\.\.\. ok$'
    rc=${PIPESTATUS[0]}     # tempest's own status, not the filters'.
    set -e
    "$VENV/bin/stestr" last --subunit > "$WORKSPACE/results.subunit" 2>/dev/null || true
    return "$rc"
}

summarize() {
    local log=$WORKSPACE/tempest-run.log passed failed skipped
    passed=$(sed -n 's/^ - Passed: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/^ - Failed: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    skipped=$(sed -n 's/^ - Skipped: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    {
        echo "tempest $(date -Is) on $(hostname)"
        echo "selection: ${1:-$DEFAULT_REGEX}, concurrency $CONCURRENCY"
        echo "passed: ${passed:-?}  failed: ${failed:-?}  skipped: ${skipped:-?}"
        echo "wall time: ${2}s"
        echo "subunit: $WORKSPACE/results.subunit"
        echo
        echo "failed tests:"
        grep -E '^\{[0-9]+\} .* \.\.\. FAILED' "$log" | sed 's/^{[0-9]*} /  /' || echo "  none"
        echo
        echo "skipped tests:"
        grep -E '\.\.\. SKIPPED' "$log" | sed 's/^{[0-9]*} /  /' \
            | awk '!seen[$0]++' || echo "  none"
    } > "$WORKSPACE/summary.txt"
    say ""
    head -n 5 "$WORKSPACE/summary.txt"
    say "summary: ${WORKSPACE#"$PWD"/}/summary.txt"
}

main() {
    local t0=$SECONDS rc=0
    check_stack
    write_tempest_conf
    run_tempest "${1:-}" || rc=$?
    summarize "${1:-}" $((SECONDS - t0))
    return "$rc"
}

main "$@"
