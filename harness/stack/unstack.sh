#!/bin/bash
# Stop exactly the processes stack.sh started (by the PID files in the
# state folder, checked against their start time) and unmount the Lustre
# shares mounted under the state folder.
#
#   tox -e unstack              stop; keep databases, images, volumes, logs
#   tox -e unstack -- --wipe    stop, then delete the state folder and the
#                               stack's files on the emulated file system
#
# The Lustre emulator itself is shared with other users and stays set up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Reverse order of start: services first, then what they depend on.
# With Nova (stack-nova): compute before libvirt, whose guests go first.
ORDER=(nova-compute nova-scheduler nova-conductor nova-api
       neutron-periodic-workers neutron-ovn-maintenance-worker neutron-api
       placement-api
       cinder-backup cinder-volume cinder-scheduler cinder-api glance-api
       keystone etcd memcached rabbitmq epmd mariadb
       ovn-controller ovn-northd ovn-sb ovn-nb ovs-vswitchd ovsdb-server)

# The guests nova-compute left running: qemu processes that libvirtd
# started outside its own session.  Only libvirtd's domains, and only
# while it is ours.
stop_guests() {
    service_running libvirtd || return 0
    local dom
    for dom in $(virsh -c qemu:///system list --name 2>/dev/null); do
        virsh -c qemu:///system destroy "$dom" > /dev/null && say "  destroyed guest $dom"
    done
    stop_service libvirtd 60
    stop_service virtlogd 60
}

stop_all() {
    local name
    for name in "${ORDER[@]}"; do
        [ "$name" != ovn-controller ] || stop_guests
        # nova-compute ignores TERM while it waits on libvirt events.
        case $name in
            nova-compute) stop_service "$name" 10 ;;
            *) stop_service "$name" 60 ;;
        esac
    done
    # Anything else with a PID file (a service added later).
    local file
    for file in "$PIDS"/*.pid; do
        [ -e "$file" ] || continue
        name=$(basename "$file" .pid)
        stop_service "$name" 60
    done
}

unmount_shares() {
    # Mounts of the stack's services: under $STATE/mnt (volume and backup
    # shares; nova's with stack-nova, which also binds $STATE/mnt over
    # itself as a shared mount for libvirt: mounts made before that bind
    # are hidden under it, hence two passes).  Deepest first.
    local mp mounts pass
    for pass in 1 2; do
        mounts=$(awk -v base="$STATE/mnt/" 'index($5, base) == 1 {print $5}' \
                 /proc/self/mountinfo | sort -r)
        for mp in $mounts; do
            if "$EMULATOR" umount "$mp" --lazy 2>/dev/null || umount -l "$mp" 2>/dev/null; then
                say "  unmounted $mp"
            fi
        done
        while awk -v mp="$STATE/mnt" '$5 == mp {found = 1} END {exit !found}' \
                /proc/self/mountinfo; do
            umount -l "$STATE/mnt"
            say "  unmounted $STATE/mnt"
        done
    done
}

wipe() {
    if [ -f "$STATE/lustre-backing-dir" ]; then
        local dir
        dir=$(cat "$STATE/lustre-backing-dir")
        rm -rf "${dir:?}/volumes" "${dir:?}/backups"
        say "  deleted the stack's volumes and backups in $dir"
    fi
    if [ -f "$STATE/lustre-backing-dir-2" ]; then
        dir=$(cat "$STATE/lustre-backing-dir-2")
        rm -rf "${dir:?}/volumes"
        say "  deleted the stack's volumes in $dir"
    fi
    if awk -v base="$STATE/" 'index($5, base) == 1 {found = 1} END {exit !found}' \
            /proc/self/mountinfo; then
        die "still mounted under $STATE; not wiping"
    fi
    rm -rf "$STATE"
    say "  deleted $STATE"
}

main() {
    local do_wipe=
    case ${1:-} in
        --wipe) do_wipe=1 ;;
        '') ;;
        *) die "usage: unstack.sh [--wipe]" ;;
    esac
    [ -d "$STATE" ] || { say "no stack state in $STATE"; return 0; }
    say "unstack: stopping the processes recorded in ${PIDS#"$REPO"/}"
    stop_all
    unmount_shares
    [ -z "$do_wipe" ] || wipe
    say "unstack done"
}

main "$@"
