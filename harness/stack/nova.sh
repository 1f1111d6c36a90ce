# The compute and network half of the stack (sourced by stack.sh when
# STACK_NOVA=1, `tox -e stack-nova`; harness/stack/README.rst):
#
#   Open vSwitch    ovsdb-server + ovs-vswitchd, userspace datapath (no
#                   openvswitch kernel module here)
#   OVN             NB and SB ovsdb-servers, ovn-northd, ovn-controller
#   libvirt         virtlogd, libvirtd (own /etc/libvirt, see start_libvirt)
#   placement-api   uwsgi, 127.0.0.1:8778
#   neutron-api     uwsgi, 127.0.0.1:9696, ML2/OVN; its maintenance and
#                   periodic workers
#   nova-api        uwsgi, 127.0.0.1:8774; nova-conductor, nova-scheduler,
#                   nova-compute (libvirt, virt_type qemu: TCG)
#
# Everything started with start_service (PID files, exact stop).

NOVA_APT_PACKAGES=(libvirt-daemon-system libvirt-daemon-driver-qemu
                   libvirt-clients qemu-system-x86 openvswitch-switch
                   ovn-central ovn-host libvirt-dev pkg-config gcc cpio)
NOVA_OS_SERVICES=(nova-compute nova-scheduler nova-conductor nova-api
                  neutron-periodic-workers neutron-ovn-maintenance-worker
                  neutron-api placement-api)
NOVA_INFRA=(libvirtd virtlogd ovn-controller ovn-northd ovn-sb ovn-nb
            ovs-vswitchd ovsdb-server)
OVS_RUN=/var/run/openvswitch
OVN_RUN=/var/run/ovn
NOVA_HOST=stack
# Per-share mount options of the volume share (lustre_shares_config): the
# driver hands them to nova-compute in the connection info.
VOLUME_SHARE_OPTIONS=${VOLUME_SHARE_OPTIONS-flock,user_xattr,noatime}
GUEST_DIR=$REPO/harness/state/guest

# libvirt-python builds against libvirt-dev, which the venv's deps cannot
# wait for: it is installed here, after the Debian packages.
install_libvirt_python() {
    "$VENV/bin/python" -c 'import libvirt' 2>/dev/null && return 0
    PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip install -q \
        -c "$HERE/constraints-nova.txt" libvirt-python
}

# --- Open vSwitch and OVN -----------------------------------------------------

ovs_vsctl() { ovs-vsctl --db=unix:$OVS_RUN/db.sock --timeout=10 "$@"; }

start_ovs() {
    local dir=$STATE/ovs
    mkdir -p "$dir" $OVS_RUN
    [ -f "$dir/conf.db" ] || ovsdb-tool create "$dir/conf.db" \
        /usr/share/openvswitch/vswitch.ovsschema
    # The unix socket where ovs-vsctl (and libvirt's calls to it) look;
    # TCP for os-vif's native ovsdb client.
    service_running ovsdb-server || start_service ovsdb-server \
        ovsdb-server "$dir/conf.db" --remote=punix:$OVS_RUN/db.sock \
        --remote=ptcp:6640:$HOST --unixctl=$dir/ovsdb-server.ctl \
        -vconsole:info -vsyslog:off
    wait_for 30 "ovsdb-server" test -S $OVS_RUN/db.sock
    ovs_vsctl --no-wait init
    ovs_vsctl --no-wait set Open_vSwitch . \
        external_ids:system-id=$NOVA_HOST external_ids:hostname=$NOVA_HOST \
        external_ids:ovn-remote=tcp:$HOST:6642 \
        external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip=$HOST \
        external_ids:ovn-bridge-datapath-type=netdev
    service_running ovs-vswitchd || start_service ovs-vswitchd \
        ovs-vswitchd unix:$OVS_RUN/db.sock --unixctl=$dir/ovs-vswitchd.ctl \
        -vconsole:info -vsyslog:off
    wait_for 30 "ovs-vswitchd" ovs-appctl -t "$dir/ovs-vswitchd.ctl" version
}

start_ovn() {
    local dir=$STATE/ovn db
    mkdir -p "$dir" $OVN_RUN
    for db in nb sb; do
        [ -f "$dir/$db.db" ] || ovsdb-tool create "$dir/$db.db" \
            /usr/share/ovn/ovn-$db.ovsschema
    done
    service_running ovn-nb || start_service ovn-nb ovsdb-server \
        "$dir/nb.db" --remote=ptcp:6641:$HOST --unixctl=$dir/nb.ctl \
        -vconsole:info -vsyslog:off
    service_running ovn-sb || start_service ovn-sb ovsdb-server \
        "$dir/sb.db" --remote=ptcp:6642:$HOST --unixctl=$dir/sb.ctl \
        -vconsole:info -vsyslog:off
    wait_for 30 "OVN NB" ovn-nbctl --db=tcp:$HOST:6641 --timeout=5 show
    wait_for 30 "OVN SB" ovn-sbctl --db=tcp:$HOST:6642 --timeout=5 show
    service_running ovn-northd || start_service ovn-northd ovn-northd \
        --ovnnb-db=tcp:$HOST:6641 --ovnsb-db=tcp:$HOST:6642 \
        --unixctl=$dir/ovn-northd.ctl -vconsole:info -vsyslog:off
    service_running ovn-controller || start_service ovn-controller \
        ovn-controller unix:$OVS_RUN/db.sock -vconsole:info -vsyslog:off
    # ovn-controller makes br-int (netdev) and registers the chassis.
    wait_for 60 "chassis $NOVA_HOST in OVN SB" chassis_registered
    ovs_vsctl get Bridge br-int datapath_type
}

chassis_registered() {
    ovn-sbctl --db=tcp:$HOST:6642 --timeout=5 --bare --columns=name \
        find Chassis name=$NOVA_HOST | grep -x $NOVA_HOST
}

# --- libvirt ------------------------------------------------------------------

# libvirtd reads qemu.conf from /etc/libvirt only and keeps the domains it
# defines there: it runs in a mount namespace of its own where our copy
# of /etc/libvirt ($ETC/libvirt) is bound over it, so nothing in the
# machine's /etc changes.  qemu must see the Lustre shares nova-compute
# mounts later under $STATE/mnt, but this machine's mounts are private
# (nothing propagates): $STATE/mnt becomes a shared tmpfs first, and the
# namespace's copy of it a slave of it.  A tmpfs, not a bind of the state
# folder: nova's mount manager asks os.path.ismount(), which compares
# st_dev with the parent's, and the emulator's mounts are binds of
# directories of the same file system as the state folder: they would
# never look mounted (mount.lustre then fails with "already mounted").
# On real Lustre they are a file system of their own.  unstack unmounts it.
write_libvirt_conf() {
    local dir=$ETC/libvirt
    if [ ! -f "$dir/libvirtd.conf" ]; then
        mkdir -p "$dir"
        cp -a /etc/libvirt/. "$dir/"
        rm -f "$dir"/qemu/networks/autostart/*
    fi
    # qemu runs as root: it opens volume files on the Lustre mounts and
    # instance files under the state folder, neither meant for another
    # user; no per-domain mount namespace (mounts made after a domain
    # started must be visible to it).
    cat > "$dir/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
namespaces = [ ]
security_driver = "none"
stdio_handler = "logd"
EOF
    cat > "$dir/libvirtd.conf" <<EOF
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
log_outputs = "3:stderr"
EOF
}

share_mnt() {
    local mp
    if ! awk -v mp="$STATE/mnt" '$5 == mp {
                for (i = 7; i < NF; i++) if ($i == "-") fstype = $(i + 1)
                if (fstype == "tmpfs") found = 1 }
            END {exit !found}' /proc/self/mountinfo; then
        # The shares mounted by an earlier stack would be hidden under it.
        for mp in $(awk -v base="$STATE/mnt/" 'index($5, base) == 1 {print $5}' \
                    /proc/self/mountinfo | sort -r); do
            "$EMULATOR" umount "$mp" --lazy || umount -l "$mp"
        done
        mkdir -p "$STATE/mnt"
        mount -t tmpfs -o size=16m,mode=0755 stack-mnt "$STATE/mnt"
    fi
    mount --make-rshared "$STATE/mnt"
    awk -v mp="$STATE/mnt" '$5 == mp {print $5, $7, $9}' /proc/self/mountinfo
}

start_libvirt() {
    write_libvirt_conf
    service_running libvirtd || share_mnt
    mkdir -p /var/run/libvirt /var/lib/libvirt/qemu
    service_running virtlogd || start_service virtlogd /usr/sbin/virtlogd
    service_running libvirtd || start_service libvirtd \
        unshare --mount --propagation slave sh -c \
        "mount --bind '$ETC/libvirt' /etc/libvirt && exec /usr/sbin/libvirtd"
    wait_for 60 "libvirtd" virsh -c qemu:///system version
    virsh -c qemu:///system version | grep -i 'running hypervisor'
}

# --- configuration --------------------------------------------------------------

keystone_auth() {  # SECTION USER: a [SECTION] of keystone password auth
    cat <<EOF
[$1]
auth_type = password
auth_url = http://$HOST:5000/v3
username = $2
password = $SERVICE_PASSWORD
user_domain_name = Default
project_name = service
project_domain_name = Default
region_name = RegionOne
EOF
}

write_placement_conf() {
    mkdir -p "$ETC/placement"
    cat > "$ETC/placement/placement.conf" <<EOF
[DEFAULT]
debug = false
[api]
auth_strategy = keystone
[placement_database]
connection = $(db_url placement)
$(authtoken_section placement)
EOF
    uwsgi_ini placement-api 8778 "$SITE/placement/wsgi/api.py" \
        "env = OS_PLACEMENT_CONFIG_DIR=$ETC/placement"
}

write_neutron_conf() {
    local dir=$ETC/neutron
    mkdir -p "$dir" "$STATE/neutron"
    cat > "$dir/neutron.conf" <<EOF
[DEFAULT]
debug = true
host = $NOVA_HOST
state_path = $STATE/neutron
core_plugin = ml2
service_plugins = ovn-router
auth_strategy = keystone
api_paste_config = $VENV/etc/neutron/api-paste.ini
transport_url = rabbit://$RABBIT_USER:$RABBIT_PASSWORD@$HOST:5672/
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
[database]
connection = $(db_url neutron)
[oslo_concurrency]
lock_path = $STATE/neutron/locks
[agent]
root_helper =
$(keystone_auth nova nova)
$(authtoken_section neutron)
EOF
    cat > "$dir/ml2_conf.ini" <<EOF
[ml2]
type_drivers = local,flat,geneve
tenant_network_types = geneve
mechanism_drivers = ovn
extension_drivers = port_security
overlay_ip_version = 4
[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38
[securitygroup]
enable_security_group = true
[ovn]
ovn_nb_connection = tcp:$HOST:6641
ovn_sb_connection = tcp:$HOST:6642
ovn_metadata_enabled = false
enable_distributed_floating_ip = false
EOF
    uwsgi_ini neutron-api 9696 "$SITE/neutron/wsgi/api.py" \
        "env = OS_NEUTRON_CONFIG_DIR=$dir
env = OS_NEUTRON_CONFIG_FILES=neutron.conf;ml2_conf.ini
start-time = %t"
}

write_nova_conf() {
    local dir=$ETC/nova conf=$ETC/nova/nova.conf
    local helper="$VENV/bin/privsep-helper --config-file $conf"
    mkdir -p "$dir" "$STATE/nova/instances" "$STATE/mnt/nova"
    cp "$VENV/etc/nova/api-paste.ini" "$dir/api-paste.ini"
    cat > "$conf" <<EOF
[DEFAULT]
debug = true
host = $NOVA_HOST
my_ip = $HOST
state_path = $STATE/nova
instances_path = $STATE/nova/instances
transport_url = rabbit://$RABBIT_USER:$RABBIT_PASSWORD@$HOST:5672/
compute_driver = libvirt.LibvirtDriver
# One guest is small, but Tempest starts several at once.
reserved_host_memory_mb = 512
cpu_allocation_ratio = 16.0
# The guest has no agent to shut it down gracefully.
shutdown_timeout = 5
[api]
auth_strategy = keystone
[api_database]
connection = $(db_url nova_api)
[database]
connection = $(db_url nova_cell1)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[libvirt]
virt_type = qemu
cpu_mode = none
# Volumes are hot-plugged into q35 guests: they need free PCIe ports.
num_pcie_ports = 12
lustre_mount_point_base = $STATE/mnt/nova
[vnc]
enabled = false
[spice]
enabled = false
[serial_console]
enabled = false
[oslo_concurrency]
lock_path = $STATE/nova/locks
[key_manager]
backend = nova.keymgr.conf_key_mgr.ConfKeyManager
fixed_key = $(fixed_key)
[os_vif_ovs]
ovsdb_connection = tcp:$HOST:6640
[privsep]
helper_command = $helper
[privsep_osbrick]
helper_command = $helper
[nova_sys_admin]
helper_command = $helper
[vif_plug_ovs_privileged]
helper_command = $helper
[vif_plug_linux_bridge_privileged]
helper_command = $helper
$(keystone_auth neutron nova)
$(keystone_auth placement nova)
$(keystone_auth cinder nova)
os_region_name = RegionOne
$(keystone_auth service_user nova)
send_service_user_token = true
$(authtoken_section nova)
EOF
    uwsgi_ini nova-api 8774 "$SITE/nova/wsgi/osapi_compute.py" \
        "env = OS_NOVA_CONFIG_DIR=$dir"
}

# What cinder needs to ask nova for assisted (online) snapshots.
cinder_nova_section() {
    keystone_auth nova cinder
    echo "interface = public"
}

# --- OpenStack services -----------------------------------------------------------

start_placement() {
    "$VENV/bin/placement-manage" --config-dir "$ETC/placement" db sync
    start_service placement-api "$VENV/bin/uwsgi" --ini "$ETC/uwsgi/placement-api.ini"
    wait_for 60 "placement-api" http_ok http://$HOST:8778/
}

start_neutron() {
    local conf=(--config-file "$ETC/neutron/neutron.conf"
                --config-file "$ETC/neutron/ml2_conf.ini")
    "$VENV/bin/neutron-db-manage" "${conf[@]}" upgrade head
    start_service neutron-api "$VENV/bin/uwsgi" --ini "$ETC/uwsgi/neutron-api.ini"
    start_service neutron-ovn-maintenance-worker \
        "$VENV/bin/neutron-ovn-maintenance-worker" "${conf[@]}"
    start_service neutron-periodic-workers \
        "$VENV/bin/neutron-periodic-workers" "${conf[@]}"
    wait_for 120 "neutron-api" http_ok http://$HOST:9696/
}

nova_manage() { "$VENV/bin/nova-manage" --config-file "$ETC/nova/nova.conf" "$@"; }

start_nova() {
    local conf=$ETC/nova/nova.conf
    nova_manage api_db sync
    nova_manage cell_v2 list_cells | grep -w cell0 > /dev/null || \
        nova_manage cell_v2 map_cell0 --database_connection "$(db_url nova_cell0)"
    nova_manage cell_v2 list_cells | grep -w cell1 > /dev/null || \
        nova_manage cell_v2 create_cell --name cell1
    nova_manage db sync
    start_service nova-api "$VENV/bin/uwsgi" --ini "$ETC/uwsgi/nova-api.ini"
    start_service nova-conductor "$VENV/bin/nova-conductor" --config-file "$conf"
    start_service nova-scheduler "$VENV/bin/nova-scheduler" --config-file "$conf"
    start_service nova-compute "$VENV/bin/nova-compute" --config-file "$conf"
    wait_for 60 "nova-api" http_ok http://$HOST:8774/
}

# nova-compute up, its host mapped to cell1 and its resources in placement.
compute_up() {
    admin_env
    openstack compute service list --service nova-compute -f value \
        -c Host -c State | grep -x "$NOVA_HOST up" || return 1
    nova_manage cell_v2 discover_hosts > /dev/null
    [ -n "$(openstack resource provider list --name $NOVA_HOST -f value -c uuid \
            --os-placement-api-version 1.14 2>/dev/null)" ]
}

wait_compute_up() {
    local i
    for ((i = 0; i < 90; i++)); do
        compute_up > /dev/null 2>&1 && break
        sleep 2
    done
    compute_up
    openstack hypervisor list -f value -c 'Hypervisor Hostname' -c State
}

# --- the guest ------------------------------------------------------------------

build_guest() {
    bash "$HERE/guest/build.sh" "$GUEST_DIR"
}

image_id() { openstack image list --name "$1" -f value -c ID | head -n 1; }

# kernel, ramdisk and two root images: stack-guest (Tempest's image_ref:
# the guest only reports what it sees) and stack-guest-writer (the
# lifecycle's: it writes and verifies patterns).  The images are replaced
# when the build changed.
upload_guest() {
    admin_env
    local version kernel ramdisk name mode
    version=$(sha256sum < "$GUEST_DIR/VERSION" | cut -c1-12)
    if [ "$(openstack image list --property lga_build=$version -f value -c ID \
            | wc -l)" != 4 ]; then
        for name in stack-guest stack-guest-writer stack-guest-kernel \
                    stack-guest-ramdisk; do
            for id in $(openstack image list --name $name -f value -c ID); do
                openstack image delete "$id"
            done
        done
        openstack image create --disk-format aki --container-format aki \
            --public --property lga_build=$version \
            --file "$GUEST_DIR/vmlinuz" stack-guest-kernel > /dev/null
        openstack image create --disk-format ari --container-format ari \
            --public --property lga_build=$version \
            --file "$GUEST_DIR/initrd.img" stack-guest-ramdisk > /dev/null
        kernel=$(image_id stack-guest-kernel)
        ramdisk=$(image_id stack-guest-ramdisk)
        for mode in passive writer; do
            name=stack-guest
            [ $mode = passive ] || name=stack-guest-$mode
            openstack image create --disk-format qcow2 --container-format bare \
                --public --property lga_build=$version \
                --property kernel_id=$kernel --property ramdisk_id=$ramdisk \
                --property os_command_line="console=ttyS0 quiet panic=-1 lga=$mode" \
                --file "$GUEST_DIR/root.qcow2" $name > /dev/null
        done
    fi
    openstack image list --property lga_build=$version -f value -c Name -c ID
    # 128 MiB is what the guest needs; a 1 GiB root disk (the image is 64 MiB).
    openstack flavor show stack.tiny > /dev/null 2>&1 || \
        openstack flavor create --ram 128 --vcpus 1 --disk 1 --public \
            --id 42 stack.tiny > /dev/null
    openstack flavor show stack.small > /dev/null 2>&1 || \
        openstack flavor create --ram 192 --vcpus 1 --disk 2 --public \
            --id 84 stack.small > /dev/null
    openstack flavor list -f value -c ID -c Name
}

# --- the data scenario ------------------------------------------------------------

nova_lifecycle() {
    admin_env
    say ""
    say "nova lifecycle: a guest writes, snapshots, backs up and reads back"
    STACK_STATE_DIR=$STATE STACK_BACKEND=$BACKEND \
        "$VENV/bin/python" "$HERE/nova_lifecycle.py"
}
