#!/bin/bash
# A short volume lifecycle against the running stack, with the openstack
# CLI: volume types thin and thick, create, snapshot, volume from snapshot,
# extend, volume from image, backup, restore, delete; then backups checked
# by their data: raw and qcow2 volumes, with and without a snapshot, full
# and incremental, each restored to a new volume that must read as the
# source did; then the raw and qcow2 ones are retyped with migration to
# the second back end and read again.  Run by stack.sh; also on its own:
# harness/stack/lifecycle.sh.
#
# Every resource it makes is named lifecycle-*; a previous run's leftovers
# are deleted first.  The volume types lustre-thin, lustre-thick,
# lustre-2-thin and lustre-2-thick stay.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CINDER_LOGS="cinder-api cinder-scheduler cinder-volume cinder-backup"
TIMEOUT=${LIFECYCLE_TIMEOUT:-180}

# The REST collection of an openstack CLI resource kind.
collection() {
    case $1 in
        volume) echo volumes ;;
        "volume snapshot") echo snapshots ;;
        "volume backup") echo backups ;;
    esac
}

# resource_id KIND NAME: the id of the (first) resource of that name.
resource_id() {
    cinder_get "/$(collection "$1")?name=$2" | python3 -c '
import json, sys
items = [item for item in list(json.load(sys.stdin).values())[0]
         if item.get("name") == sys.argv[1]]
print(items[0]["id"] if items else "")' "$2"
}

# wait_status KIND NAME WANT: poll until WANT; an error state fails at once.
wait_status() {
    local kind=$1 name=$2 want=$3 coll id status='' i
    coll=$(collection "$kind")
    id=$(resource_id "$kind" "$name")
    [ -n "$id" ] || { echo "$kind $name not found"; return 1; }
    for ((i = 0; i < TIMEOUT; i++)); do
        status=$(cinder_get "/$coll/$id" | json_get "${coll%s}.status")
        case $status in
            "$want") echo "$kind $name ($id): $status after ${i}s"; return 0 ;;
            error*) echo "$kind $name ($id): $status"
                    cinder_get "/messages" | python3 -m json.tool | tail -n 20
                    return 1 ;;
        esac
        sleep 1
    done
    echo "$kind $name: still $status after ${TIMEOUT}s"
    return 1
}

wait_gone() {  # KIND NAME
    local i
    for ((i = 0; i < TIMEOUT; i++)); do
        [ -z "$(resource_id "$1" "$2")" ] && return 0
        sleep 1
    done
    echo "$1 $2 still there after ${TIMEOUT}s"
    return 1
}

# The volume's files on the share, as the driver left them.
show_files() {  # VOLUME
    local id dir
    id=$(resource_id volume "$1")
    dir=$(cat "$STATE/lustre-backing-dir")/volumes
    ls -ls "$dir" | grep "volume-$id" || true
    local f
    for f in "$dir"/volume-"$id"*; do
        case $f in *.info) continue ;; esac
        [ -e "$f" ] && qemu-img info -U "$f" | grep -E 'file format|virtual size|disk size|backing file:' | sed "s|^|  ${f##*/}: |"
    done
}

names() {  # KIND: names of the lifecycle's resources of that kind
    cinder_get "/$(collection "$1")" | python3 -c '
import json, sys
for item in list(json.load(sys.stdin).values())[0]:
    if (item.get("name") or "").startswith("lifecycle-"):
        print(item["name"])'
}

cleanup() {
    local kind name
    for kind in "volume backup" "volume snapshot" volume; do
        # Incremental backups first: their parents cannot go before them.
        for name in $(names "$kind" | grep -- -incr || true) \
                    $(names "$kind" | grep -v -- -incr || true); do
            # --force: an earlier run may have left it mid-operation.
            openstack $kind delete --force "$name"
            wait_gone "$kind" "$name"
            echo "deleted $kind $name"
        done
    done
}

volume_types() {
    local prov
    for prov in thin thick; do
        if ! cinder_get /types | grep "\"name\": \"lustre-$prov\"" > /dev/null; then
            openstack volume type create --property provisioning:type=$prov \
                --property volume_backend_name=$BACKEND "lustre-$prov" > /dev/null
        fi
        cinder_get /types | python3 -c '
import json, sys
for t in json.load(sys.stdin)["volume_types"]:
    if t["name"] == sys.argv[1]:
        print(t["name"], t["extra_specs"])' "lustre-$prov"
    done
}

create_volume() {  # NAME TYPE SIZE
    openstack volume create --type "$2" --size "$3" "$1" > /dev/null
    wait_status volume "$1" available
    show_files "$1"
}

snapshot() {
    openstack volume snapshot create --volume lifecycle-thin lifecycle-snap > /dev/null
    wait_status "volume snapshot" lifecycle-snap available
    show_files lifecycle-thin
}

from_snapshot() {
    openstack volume create --snapshot lifecycle-snap --size 2 \
        lifecycle-from-snap > /dev/null
    wait_status volume lifecycle-from-snap available
    show_files lifecycle-from-snap
}

extend() {
    openstack volume set --size 2 lifecycle-thick
    wait_status volume lifecycle-thick available
    local size
    size=$(cinder_get "/volumes/$(resource_id volume lifecycle-thick)" | json_get volume.size)
    echo "lifecycle-thick size: ${size} GiB"
    [ "$size" = 2 ]
    show_files lifecycle-thick
}

from_image() {
    openstack volume create --image stack-tiny --type lustre-thin --size 1 \
        lifecycle-from-image > /dev/null
    wait_status volume lifecycle-from-image available
    show_files lifecycle-from-image
}

backup() {
    openstack volume backup create --name lifecycle-backup lifecycle-thin > /dev/null
    wait_status "volume backup" lifecycle-backup available
    ls -lR "$(cat "$STATE/lustre-backing-dir")/backups" | tail -n 5
}

restore() {
    openstack volume backup restore lifecycle-backup lifecycle-restored > /dev/null
    wait_status volume lifecycle-restored available
    show_files lifecycle-restored
}

# --- backups checked by their data --------------------------------------------
# Each case is a volume lifecycle-data-CASE: raw (lustre-thick) or qcow2
# (lustre-thin), -snap with a snapshot taken between two guest writes.
# Nova is not part of the stack: the "guest" is qemu-io on the volume's
# active image on the share (what a guest's disk is), and the guest's view
# is that image converted to raw.  Sums go to $DATA/NAME.
DATA_CASES="raw qcow2 raw-snap qcow2-snap"
DATA=$STATE/lifecycle-data

active_image() {  # VOLUME: path of its active image on the share
    local id dir info
    id=$(resource_id volume "$1")
    dir=$(cat "$STATE/lustre-backing-dir")/volumes
    info=$dir/volume-$id.info
    if [ -f "$info" ]; then
        echo "$dir/$(json_get active < "$info")"
    else
        echo "$dir/volume-$id"
    fi
}

image_format() {  # PATH
    qemu-img info -U --output=json "$1" | json_get format
}

guest_write() {  # VOLUME OFFSET BYTE: 1 MiB of BYTE at OFFSET, as a guest
    local path
    path=$(active_image "$1")
    qemu-io -f "$(image_format "$path")" -c "write -P $3 $2 1M" "$path" \
        > /dev/null
}

guest_sum() {  # VOLUME: SHA-256 of what a guest reads from it
    local path tmp sum
    path=$(active_image "$1")
    tmp=$(mktemp -p "$DATA")
    qemu-img convert -U -O raw "$path" "$tmp"
    sum=$(sha256sum < "$tmp" | cut -d' ' -f1)
    rm -f "$tmp"
    echo "$sum"
}

data_case_type() {  # CASE -> volume type
    case $1 in raw*) echo lustre-thick ;; *) echo lustre-thin ;; esac
}

data_volumes() {
    local case want path
    rm -rf "$DATA"
    mkdir -p "$DATA"
    for case in $DATA_CASES; do
        openstack volume create --type "$(data_case_type "$case")" --size 1 \
            "lifecycle-data-$case" > /dev/null
    done
    for case in $DATA_CASES; do
        wait_status volume "lifecycle-data-$case" available
        want=${case%-snap}
        path=$(active_image "lifecycle-data-$case")
        echo "lifecycle-data-$case: $(image_format "$path")"
        [ "$(image_format "$path")" = "$want" ]
    done
}

data_write_full() {
    local case offset
    for case in $DATA_CASES; do
        for offset in 0 300M 1023M; do
            guest_write "lifecycle-data-$case" "$offset" 0x11
        done
        case $case in
            *-snap)
                openstack volume snapshot create --volume \
                    "lifecycle-data-$case" "lifecycle-data-$case-snap" \
                    > /dev/null
                wait_status "volume snapshot" "lifecycle-data-$case-snap" \
                    available
                guest_write "lifecycle-data-$case" 5M 0x22
                echo "lifecycle-data-$case active image:" \
                    "$(basename "$(active_image "lifecycle-data-$case")")"
                ;;
        esac
        guest_sum "lifecycle-data-$case" > "$DATA/lifecycle-data-$case-full"
    done
}

data_write_incr() {
    local case
    for case in $DATA_CASES; do
        guest_write "lifecycle-data-$case" 600M 0x33
        guest_sum "lifecycle-data-$case" > "$DATA/lifecycle-data-$case-incr"
        if cmp -s "$DATA/lifecycle-data-$case-full" \
                "$DATA/lifecycle-data-$case-incr"; then
            echo "lifecycle-data-$case: the write changed nothing"
            return 1
        fi
    done
}

data_backup() {  # full|incr
    local case opts=()
    [ "$1" = incr ] && opts=(--incremental)
    for case in $DATA_CASES; do
        openstack volume backup create "${opts[@]}" \
            --name "lifecycle-data-$case-$1" "lifecycle-data-$case" \
            > /dev/null
    done
    for case in $DATA_CASES; do
        wait_status "volume backup" "lifecycle-data-$case-$1" available
        wait_status volume "lifecycle-data-$case" available > /dev/null
    done
}

# Restore the backups of one kind (full|incr) to new volumes, compare the
# guest views with their sources', delete the new volumes (the default
# quota of 10 volumes does not hold all eight at once).
data_restore() {  # KIND
    local case
    for case in $DATA_CASES; do
        openstack volume backup restore "lifecycle-data-$case-$1" \
            "lifecycle-data-$case-$1-restored" > /dev/null
    done
    for case in $DATA_CASES; do
        wait_status volume "lifecycle-data-$case-$1-restored" available
    done
}

data_compare() {  # KIND
    local case want got bad=0
    printf '%-12s %-6s %-8s %s\n' case backup restored "guest view (sha256)"
    for case in $DATA_CASES; do
        want=$(cat "$DATA/lifecycle-data-$case-$1")
        got=$(guest_sum "lifecycle-data-$case-$1-restored")
        printf '%-12s %-6s %-8s %s\n' "$case" "$1" \
            "$([ "$got" = "$want" ] && echo same || echo DIFFERS)" \
            "${got:0:16}"
        [ "$got" = "$want" ] || bad=1
    done
    for case in $DATA_CASES; do
        openstack volume delete "lifecycle-data-$case-$1-restored"
    done
    for case in $DATA_CASES; do
        wait_gone volume "lifecycle-data-$case-$1-restored"
    done
    return $bad
}

# --- migration between the back ends, checked by data --------------------------
# Tempest's retype with migration checks a volume's host and status only.
# Here the raw data volume is retyped to the other back end and thin
# provisioning, the qcow2 one to thick (Cinder's generic migration: the
# volume manager copies the source's file into the target's with dd);
# each must then read, in the
# format Cinder recorded for it, as it did before.  The qcow2 volume is
# made one raw file by the driver for the copy (dd copies only the
# volume's size of a file).  MIGRATE_CASES=raw migrates the raw one only.
MIGRATE_CASES=${MIGRATE_CASES:-raw qcow2}

migrate_types() {
    local prov
    for prov in thin thick; do
        cinder_get /types | grep "\"name\": \"lustre-2-$prov\"" > /dev/null ||
            openstack volume type create --property provisioning:type=$prov \
                --property volume_backend_name=$BACKEND2 "lustre-2-$prov" \
                > /dev/null
    done
}

recorded_format() {  # VOLUME_ID: Cinder's record (admin metadata), not a guess
    mariadb --no-defaults -S "$STATE/mysql/mysqld.sock" -N cinder -e \
        "SELECT value FROM volume_admin_metadata WHERE volume_id = '$1'
         AND \`key\` = 'format' AND deleted = 0"
}

volume_file() {  # VOLUME: its base file, on its back end's file system
    local vol id dir=lustre-backing-dir
    vol=$(cinder_get "/volumes/$(resource_id volume "$1")")
    # A migrated volume's files are named after the target's id.
    id=$(json_get volume.os-vol-mig-status-attr:name_id <<< "$vol")
    [ -n "$id" ] || id=$(json_get volume.id <<< "$vol")
    case $(json_get volume.os-vol-host-attr:host <<< "$vol") in
        *@$BACKEND2#*) dir=lustre-backing-dir-2 ;;
    esac
    echo "$(cat "$STATE/$dir")/volumes/volume-$id"
}

migrate_data() {
    local case name id state want got fmt tmp i bad=0
    local -A ids
    migrate_types
    # By id: a migration's target volume has its source's name until the
    # migration completes.
    for case in $MIGRATE_CASES; do
        ids[$case]=$(resource_id volume "lifecycle-data-$case")
    done
    for case in $MIGRATE_CASES; do
        openstack volume set --migration-policy on-demand --type \
            "$([ $case = raw ] && echo lustre-2-thin || echo lustre-2-thick)" \
            "${ids[$case]}"
    done
    printf '%-6s %-34s %-6s %-8s %s\n' case "now on" format read \
        "guest view (sha256)"
    for case in $MIGRATE_CASES; do
        name=lifecycle-data-$case
        id=${ids[$case]}
        for ((i = 0; i < TIMEOUT; i++)); do
            state=$(cinder_get "/volumes/$id" | python3 -c '
import json, sys
v = json.load(sys.stdin)["volume"]
print(v["status"], v["migration_status"], v["os-vol-host-attr:host"])')
            case $state in
                "available success "*) break ;;
                *error*) echo "$name: $state"; return 1 ;;
            esac
            sleep 1
        done
        [[ $state == "available success "* ]] || { echo "$name: $state"; return 1; }
        fmt=$(recorded_format "$id")
        tmp=$(mktemp -p "$DATA")
        qemu-img convert -U -f "$fmt" -O raw "$(volume_file "$name")" "$tmp"
        got=$(sha256sum < "$tmp" | cut -d' ' -f1)
        rm -f "$tmp"
        want=$(cat "$DATA/$name-incr")
        printf '%-6s %-34s %-6s %-8s %s\n' "$case" "${state##* }" "$fmt" \
            "$([ "$got" = "$want" ] && echo same || echo DIFFERS)" \
            "${got:0:16}"
        [ "$got" = "$want" ] || bad=1
    done
    return $bad
}

main() {
    admin_env
    api_login
    STEP_VERBOSE=${STEP_VERBOSE-1}   # show what each step did
    local t0=$SECONDS
    say ""
    say "lifecycle (openstack CLI, backend $BACKEND):"
    step "clean up an earlier lifecycle's resources" "$CINDER_LOGS" cleanup
    step "volume types lustre-thin / lustre-thick (provisioning:type)" \
        "cinder-api" volume_types
    step "create 1 GiB thin volume lifecycle-thin" "$CINDER_LOGS" \
        create_volume lifecycle-thin lustre-thin 1
    step "create 1 GiB thick volume lifecycle-thick" "$CINDER_LOGS" \
        create_volume lifecycle-thick lustre-thick 1
    step "snapshot lifecycle-snap of lifecycle-thin" "$CINDER_LOGS" snapshot
    step "2 GiB volume from the snapshot" "$CINDER_LOGS" from_snapshot
    step "extend lifecycle-thick to 2 GiB" "$CINDER_LOGS" extend
    step "volume from image stack-tiny (glance)" "$CINDER_LOGS glance-api" \
        from_image
    step "backup lifecycle-thin (with its snapshot)" "$CINDER_LOGS" backup
    step "restore the backup to a new volume" "$CINDER_LOGS" restore
    step "delete backup, snapshot and volumes" "$CINDER_LOGS" cleanup
    step "data: raw/qcow2 volumes, +/- snapshot (lifecycle-data-*)" \
        "$CINDER_LOGS" data_volumes
    step "data: guest writes, snapshots of the -snap volumes" \
        "$CINDER_LOGS" data_write_full
    step "data: full backups" "$CINDER_LOGS" data_backup full
    step "data: guest writes again" "$CINDER_LOGS" data_write_incr
    step "data: incremental backups" "$CINDER_LOGS" data_backup incr
    step "data: restore the full backups to new volumes" "$CINDER_LOGS" \
        data_restore full
    step "data: they read as their sources did then" "$CINDER_LOGS" \
        data_compare full
    step "data: restore the incremental backups to new volumes" \
        "$CINDER_LOGS" data_restore incr
    step "data: they read as their sources did then" "$CINDER_LOGS" \
        data_compare incr
    step "data: retype $MIGRATE_CASES to $BACKEND2 (migration), read again" \
        "$CINDER_LOGS" migrate_data
    step "delete the data backups, snapshots and volumes" "$CINDER_LOGS" \
        cleanup
    rm -rf "$DATA"
    say "lifecycle passed in $((SECONDS - t0))s"
}

main "$@"
