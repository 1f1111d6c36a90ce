#!/bin/bash
# Bring up the one-machine block-storage stack on the Lustre emulator and
# run a short lifecycle with the openstack CLI (harness/stack/README.rst).
#
#   tox -e stack                      what a user runs (venv + overlay, then this)
#   harness/stack/stack.sh [--no-lifecycle]
#
# Idempotent: MariaDB, RabbitMQ, memcached and etcd are reused when they
# are still running; keystone, glance and the cinder services are restarted
# with freshly written configuration, so a second run picks up driver
# changes.  Everything listens on 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
APT_PACKAGES=(mariadb-server rabbitmq-server memcached etcd-server qemu-utils
              patch curl)
OS_SERVICES=(cinder-backup cinder-volume cinder-scheduler cinder-api
             glance-api keystone)
DATABASES=(keystone glance cinder)
STACK_NOVA=${STACK_NOVA:-}
if [ -n "$STACK_NOVA" ]; then
    source "$HERE/nova.sh"
    APT_PACKAGES+=("${NOVA_APT_PACKAGES[@]}")
    OS_SERVICES=("${NOVA_OS_SERVICES[@]}" "${OS_SERVICES[@]}")
    DATABASES+=(placement neutron nova_api nova_cell0 nova_cell1)
fi

# --- Debian packages ---------------------------------------------------------

install_packages() {
    local missing=() pkg policy=/usr/sbin/policy-rc.d
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg -s "$pkg" > /dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} = 0 ] && return 0
    # Keep the packages' init scripts from starting daemons we did not
    # start (they would listen on every address, and unstack could not
    # stop them).
    local own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        own_policy=1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
    [ -z "$own_policy" ] || rm -f "$policy"
}

# uv installs without byte-compiling, and every openstack CLI call and
# service start would compile thousands of modules again (seconds each).
compile_venv() {
    [ "$SITE/.stack-compiled" -nt "$VENV/pyvenv.cfg" ] && return 0
    "$VENV/bin/python" -m compileall -q -j 0 "$SITE" > /dev/null || true
    touch "$SITE/.stack-compiled"
}

# --- infrastructure: reused when running --------------------------------------

start_mariadb() {
    local dir=$STATE/mysql
    if ! [ -d "$dir/data/mysql" ]; then
        mkdir -p "$dir/data"
        mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
            --auth-root-authentication-method=socket --skip-test-db
    fi
    service_running mariadb || start_service mariadb \
        mariadbd --no-defaults --user=root --datadir="$dir/data" \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --bind-address=$HOST --port=3306 --skip-name-resolve \
        --max-connections=1000 --innodb-buffer-pool-size=256M \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
    wait_for 60 "MariaDB" mariadb --no-defaults -S "$dir/mysqld.sock" -e 'SELECT 1'
    local db sql=''
    sql+="CREATE USER IF NOT EXISTS '$DB_USER'@'$HOST' IDENTIFIED BY '$DB_PASSWORD';"
    for db in "${DATABASES[@]}"; do
        sql+="CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4;"
        sql+="GRANT ALL ON $db.* TO '$DB_USER'@'$HOST';"
    done
    mariadb --no-defaults -S "$dir/mysqld.sock" -e "$sql"
}

rabbit_env() {
    export HOME=$STATE/rabbitmq RABBITMQ_NODENAME=rabbit@localhost
    export RABBITMQ_NODE_IP_ADDRESS=$HOST RABBITMQ_NODE_PORT=5672
    export ERL_EPMD_ADDRESS=$HOST ERL_EPMD_PORT=4369 RABBITMQ_DIST_PORT=25672
    export RABBITMQ_MNESIA_BASE=$STATE/rabbitmq/mnesia
    export RABBITMQ_LOG_BASE=$STATE/rabbitmq/log
    export RABBITMQ_ENABLED_PLUGINS_FILE=$STATE/rabbitmq/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$STATE/rabbitmq/rabbitmq
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
    export RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
}

rabbitmqctl() { ( rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl "$@" ); }

start_rabbitmq() {
    mkdir -p "$STATE/rabbitmq/mnesia" "$STATE/rabbitmq/log"
    echo '[].' > "$STATE/rabbitmq/enabled_plugins"
    # rabbitmq.conf: the log goes to our log file (stdout of the server).
    printf 'log.console = true\nlog.file = false\nloopback_users = none\n' \
        > "$STATE/rabbitmq/rabbitmq.conf"
    (
        rabbit_env
        # epmd first, in the foreground of its own session, so that it is
        # ours to stop and not a daemon the Erlang VM forks off.
        service_running epmd || start_service epmd \
            /usr/bin/epmd -address $HOST -port 4369
        service_running rabbitmq || start_service rabbitmq \
            /usr/lib/rabbitmq/bin/rabbitmq-server
    )
    wait_for 90 "RabbitMQ" rabbitmqctl -q await_startup
    if ! rabbitmqctl -q list_users | grep "^$RABBIT_USER\b" > /dev/null; then
        rabbitmqctl -q add_user "$RABBIT_USER" "$RABBIT_PASSWORD"
    fi
    rabbitmqctl -q set_permissions "$RABBIT_USER" '.*' '.*' '.*'
}

start_memcached() {
    service_running memcached || start_service memcached \
        memcached -u root -l $HOST -p 11211 -U 0 -m 256
    wait_for 20 "memcached" port_open 11211
}

start_etcd() {
    service_running etcd || start_service etcd \
        etcd --name stack --data-dir "$STATE/etcd" \
        --listen-client-urls http://$HOST:2379 \
        --advertise-client-urls http://$HOST:2379 \
        --listen-peer-urls http://$HOST:2380 \
        --initial-advertise-peer-urls http://$HOST:2380 \
        --initial-cluster stack=http://$HOST:2380
    wait_for 30 "etcd" http_ok http://$HOST:2379/health
}

# --- the Lustre emulator ------------------------------------------------------

setup_lustre() {
    # Shared with other users of the emulator: setup is idempotent and we
    # only add (never tear down) our own file system.
    "$EMULATOR" setup
    local root
    root=$("$EMULATOR" status | "$VENV/bin/python" -c \
        'import json, sys; print(json.load(sys.stdin)["root"])')
    if ! [ -d "$root/fs/$LUSTRE_FS" ]; then
        "$EMULATOR" add-fs $LUSTRE_FS --osts 4 --ost-size 64G \
            --mdt-size 4G --pool ssd:0,1 --pool hdd:2,3
    fi
    # The second back end's: a file system of its own, as two back ends
    # of a real site would be (project ids and pools are per file system).
    if ! [ -d "$root/fs/$LUSTRE_FS2" ]; then
        "$EMULATOR" add-fs $LUSTRE_FS2 --osts 2 --ost-size 64G --mdt-size 4G
    fi
    mkdir -p "$root/fs/$LUSTRE_FS/root/volumes" "$root/fs/$LUSTRE_FS/root/backups" \
        "$root/fs/$LUSTRE_FS2/root/volumes"
    echo "$root/fs/$LUSTRE_FS/root" > "$STATE/lustre-backing-dir"
    echo "$root/fs/$LUSTRE_FS2/root" > "$STATE/lustre-backing-dir-2"
}

# --- configuration -------------------------------------------------------------

db_url() { echo "mysql+pymysql://$DB_USER:$DB_PASSWORD@$HOST/$1?charset=utf8mb4"; }

authtoken_section() {  # USER
    cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://$HOST:5000/v3
auth_url = http://$HOST:5000/v3
auth_type = password
username = $1
password = $SERVICE_PASSWORD
user_domain_name = Default
project_name = service
project_domain_name = Default
memcached_servers = $HOST:11211
service_token_roles_required = true
EOF
}

uwsgi_ini() {  # NAME PORT WSGI_FILE [EXTRA LINES]
    cat > "$ETC/uwsgi/$1.ini" <<EOF
[uwsgi]
http-socket = $HOST:$2
wsgi-file = $3
master = true
processes = 2
threads = 1
lazy-apps = true
enable-threads = true
die-on-term = true
buffer-size = 65535
add-header = Connection: close
# uwsgi's default of 4 s ends an upload (cinder's upload-to-image, glance
# reading a chunked body) that stalls that long on a loaded machine.
socket-timeout = 120
hook-master-start = unix_signal:15 gracefully_kill_them_all
thunder-lock = true
${4:-}
EOF
}

write_keystone_conf() {
    mkdir -p "$ETC/keystone" "$STATE/keystone"
    cat > "$ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
debug = false
[database]
connection = $(db_url keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[fernet_receipts]
key_repository = $STATE/keystone/fernet-keys
[credential]
key_repository = $STATE/keystone/credential-keys
[cache]
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = $HOST:11211
[identity]
# bcrypt's minimum: tests create many users.
password_hash_rounds = 4
EOF
    uwsgi_ini keystone 5000 "$SITE/keystone/wsgi/api.py" \
        "env = OS_KEYSTONE_CONFIG_FILES=$ETC/keystone/keystone.conf"
}

write_glance_conf() {
    mkdir -p "$ETC/glance" "$STATE/glance"/{images,staging,tasks}
    cat > "$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
debug = true
enabled_backends = fs:file
public_endpoint = http://$HOST:9292
worker_self_reference_url = http://$HOST:9292
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $STATE/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $STATE/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $STATE/glance/tasks
[database]
connection = $(db_url glance)
[paste_deploy]
flavor = keystone
config_file = $VENV/etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $STATE/glance/locks
$(authtoken_section glance)
EOF
    uwsgi_ini glance-api 9292 "$SITE/glance/wsgi/api.py" \
        "env = OS_GLANCE_CONFIG_DIR=$ETC/glance
http-auto-chunked = true
http-raw-body = true
# cinder's upload to image (glanceclient) sends chunks uwsgi's default
# limit of 1 MiB refuses (\"unable to receive chunked part\").
chunked-input-limit = 16777216"
}

backend_section() {  # NAME SHARES_CONFIG
    cat <<EOF
[$1]
volume_driver = cinder.volume.drivers.lustre.LustreDriver
volume_backend_name = $1
lustre_shares_config = $2
lustre_mount_point_base = $STATE/mnt/volumes
# Snapshots are refused with secure file operations, which "auto" turns
# on for a new installation (see the driver's documentation).
nas_secure_file_operations = false
image_volume_cache_enabled = true
EOF
}

# keystone_id projects|users NAME: its id (keystone must be up).
keystone_id() {
    [ -n "${TOKEN:-}" ] || api_login
    curl -fsS -H "X-Auth-Token: $TOKEN" "http://$HOST:5000/v3/$1?name=$2" \
        | python3 -c 'import json, sys
print(json.load(sys.stdin)[sys.argv[1]][0]["id"])' "$1"
}

fixed_key() {  # a stable key for cinder's ConfKeyManager (encrypted volumes)
    [ -f "$STATE/fixed_key" ] || "$VENV/bin/python" -c \
        'import secrets; print(secrets.token_hex(32))' > "$STATE/fixed_key"
    cat "$STATE/fixed_key"
}

write_cinder_conf() {
    local conf=$ETC/cinder/cinder.conf internal_project internal_user
    internal_project=$(keystone_id projects service)
    internal_user=$(keystone_id users cinder)
    mkdir -p "$ETC/cinder" "$STATE/cinder" "$STATE/mnt"
    echo "$VOLUME_SHARE${VOLUME_SHARE_OPTIONS:+ -o $VOLUME_SHARE_OPTIONS}" \
        > "$ETC/cinder/lustre_shares"
    echo "$VOLUME_SHARE2${VOLUME_SHARE_OPTIONS:+ -o $VOLUME_SHARE_OPTIONS}" \
        > "$ETC/cinder/lustre_shares-2"
    cat > "$ETC/cinder/rootwrap.conf" <<EOF
[DEFAULT]
filters_path = $VENV/etc/cinder/rootwrap.d,$VENV/etc/os-brick/rootwrap.d
exec_dirs = $VENV/bin,/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin,/usr/local/sbin
use_syslog = False
EOF
    local helper="$VENV/bin/privsep-helper --config-file $conf"
    cat > "$conf" <<EOF
[DEFAULT]
debug = true
my_ip = $HOST
host = stack
state_path = $STATE/cinder
transport_url = rabbit://$RABBIT_USER:$RABBIT_PASSWORD@$HOST:5672/
auth_strategy = keystone
api_paste_config = $VENV/etc/cinder/api-paste.ini
# Without it no list filter (name, status...) is allowed and all are ignored.
resource_query_filters_file = $VENV/etc/cinder/resource_filters.json
rootwrap_config = $ETC/cinder/rootwrap.conf
glance_api_servers = http://$HOST:9292
enabled_backends = $BACKEND,$BACKEND2
# The image volume cache's volumes belong to this project and user
# (devstack's choice: the service project and the cinder user).
cinder_internal_tenant_project_id = $internal_project
cinder_internal_tenant_user_id = $internal_user
image_conversion_dir = \$state_path/conversion
# cinder-backup on the Lustre emulator's backup share.
backup_driver = cinder.backup.drivers.lustre.LustreBackupDriver
backup_lustre_share = $BACKUP_SHARE
backup_lustre_mount_point_base = $STATE/mnt/backup
$(backend_section "$BACKEND" "$ETC/cinder/lustre_shares")
$(backend_section "$BACKEND2" "$ETC/cinder/lustre_shares-2")
[database]
connection = $(db_url cinder)
max_pool_size = 10
max_overflow = 30
[coordination]
backend_url = etcd3+http://$HOST:2379
[oslo_concurrency]
lock_path = $STATE/cinder/locks
[key_manager]
backend = cinder.keymgr.conf_key_mgr.ConfKeyManager
fixed_key = $(fixed_key)
[privsep]
helper_command = $helper
[privsep_osbrick]
helper_command = $helper
[cinder_sys_admin]
helper_command = $helper
$([ -z "$STACK_NOVA" ] || cinder_nova_section)
[service_user]
send_service_user_token = true
auth_url = http://$HOST:5000/v3
auth_type = password
username = cinder
password = $SERVICE_PASSWORD
user_domain_name = Default
project_name = service
project_domain_name = Default
$(authtoken_section cinder)
EOF
    uwsgi_ini cinder-api 8776 "$SITE/cinder/wsgi/api.py" \
        "pyargv = --config-file $conf"
}

write_configs() {
    mkdir -p "$ETC/uwsgi"
    write_keystone_conf
    write_glance_conf
    if [ -n "$STACK_NOVA" ]; then
        write_placement_conf
        write_neutron_conf
        write_nova_conf
    fi
}

# --- OpenStack services: always restarted --------------------------------------

stop_openstack() {
    local name
    for name in "${OS_SERVICES[@]}"; do
        stop_service "$name" 60
    done
}

keystone_manage() {
    "$VENV/bin/keystone-manage" --config-file "$ETC/keystone/keystone.conf" "$@"
}

start_keystone() {
    keystone_manage db_sync
    [ -d "$STATE/keystone/fernet-keys" ] || keystone_manage fernet_setup \
        --keystone-user root --keystone-group root
    [ -d "$STATE/keystone/credential-keys" ] || keystone_manage \
        credential_setup --keystone-user root --keystone-group root
    keystone_manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
        --bootstrap-admin-url http://$HOST:5000/v3 \
        --bootstrap-public-url http://$HOST:5000/v3 \
        --bootstrap-internal-url http://$HOST:5000/v3 \
        --bootstrap-region-id RegionOne
    start_service keystone "$VENV/bin/uwsgi" --ini "$ETC/uwsgi/keystone.ini"
    wait_for 60 "keystone" http_ok http://$HOST:5000/v3
}

register_catalog() {
    admin_env
    STACK_SERVICE_PASSWORD=$SERVICE_PASSWORD STACK_NOVA=$STACK_NOVA \
        python3 "$HERE/catalog.py" $HOST
}

start_glance() {
    "$VENV/bin/glance-manage" --config-dir "$ETC/glance" db_sync > /dev/null
    start_service glance-api env OS_GLANCE_CONFIG_DIR="$ETC/glance" \
        "$VENV/bin/uwsgi" --ini "$ETC/uwsgi/glance-api.ini"
    wait_for 60 "glance-api" http_ok http://$HOST:9292/versions
}

start_cinder() {
    local conf=$ETC/cinder/cinder.conf
    "$VENV/bin/cinder-manage" --config-file "$conf" db sync
    start_service cinder-api "$VENV/bin/uwsgi" --ini "$ETC/uwsgi/cinder-api.ini"
    start_service cinder-scheduler "$VENV/bin/cinder-scheduler" --config-file "$conf"
    # The scheduler learns of cinder-backup only from the capabilities it
    # publishes (at start, then every 60 s: the periodic task's spacing is
    # fixed at import, backup_driver_stats_polling_interval's default): the
    # scheduler must be listening before cinder-backup starts, and the
    # first report may still say backend_state False (see wait_cinder_up).
    wait_for 60 "cinder-scheduler's RPC server" scheduler_listening
    # The drivers refuse a mount that is not of type lustre: the emulator's
    # mounts read as real clients' (harness/functional/emulated_mounts.py).
    local emulated=$REPO/harness/functional/emulated_mounts.py
    start_service cinder-volume "$VENV/bin/python" "$emulated" volume \
        --config-file "$conf"
    # As the Lustre backup driver's page advises (Memory and compression).
    MALLOC_ARENA_MAX=2 start_service cinder-backup "$VENV/bin/python" \
        "$emulated" backup --config-file "$conf"
    wait_for 60 "cinder-api" http_ok http://$HOST:8776/
}

# All three cinder services report "up" (cinder-volume only once the
# driver's do_setup and check_for_setup_error passed).
cinder_services_up() {
    admin_env
    local out
    out=$(openstack volume service list -f value -c Binary -c Host -c State \
          -c Status)
    echo "$out"
    local service
    for service in "cinder-scheduler stack" "cinder-volume stack@$BACKEND" \
            "cinder-volume stack@$BACKEND2" "cinder-backup stack"; do
        echo "$out" | grep -Fx "$service enabled up" > /dev/null || return 1
    done
}

# cinder-volume logs this when the driver's set-up failed: stop waiting.
driver_failed() {
    since_start cinder-volume | grep 'Failed to initialize driver' > /dev/null
}

# Where this run's part of each log starts (line number).
mark_logs() {
    local name
    for name in "$@"; do
        echo $(($(cat "$LOGS/$name.log" 2>/dev/null | wc -l) + 1)) \
            > "$STATE/logstart.$name"
    done
}

# (Callers grep without -q: with pipefail, grep -q leaving early would
# fail the pipeline by SIGPIPE'ing tail.)
since_start() {  # NAME: this run's part of its log
    tail -n +"$(cat "$STATE/logstart.$1")" "$LOGS/$1.log"
}

scheduler_listening() {
    since_start cinder-scheduler | grep 'Pinning object versions for RPC server' > /dev/null
}

backup_known_to_scheduler() {
    since_start cinder-scheduler \
        | grep "Received backup service update.*'backend_state': True" > /dev/null
}

wait_cinder_up() {
    local i
    for ((i = 0; i < 60; i++)); do
        if driver_failed; then
            echo "cinder-volume: Failed to initialize driver"
            return 1
        fi
        cinder_services_up > /dev/null 2>&1 && backup_known_to_scheduler && break
        sleep 2
    done
    cinder_services_up
    backup_known_to_scheduler || { echo "the scheduler has not heard of cinder-backup"; return 1; }
}

# Tempest's manage test manages a volume of the default type by a
# reference naming the first back end's share (tempest.sh): the default
# type must place volumes there.  Cinder refuses to change the extra specs
# of a type in use, so this is done once, before any volume exists.
pin_default_type() {
    local id specs
    api_login
    id=$(cinder_get /types/default | json_get volume_type.id)
    specs=$(cinder_get "/types/$id/extra_specs")
    echo "__DEFAULT__ ($id): $specs"
    [ "$(json_get extra_specs.volume_backend_name <<< "$specs")" = "$BACKEND" ] \
        && return 0
    curl -fsS -X POST -H "X-Auth-Token: $TOKEN" \
        -H 'Content-Type: application/json' \
        "http://$HOST:8776/v3/$PROJECT_ID/types/$id/extra_specs" \
        -d "{\"extra_specs\": {\"volume_backend_name\": \"$BACKEND\"}}"
}

upload_image() {
    # A tiny image for the copy-image paths (and tempest's image_ref): no
    # internet here, so an empty 64 MiB qcow2 instead of cirros.
    admin_env
    local img=$STATE/stack-tiny.qcow2
    [ -f "$img" ] || qemu-img create -q -f qcow2 "$img" 64M
    if [ -z "$(openstack image list --name stack-tiny -f value -c ID)" ]; then
        openstack image create --disk-format qcow2 --container-format bare \
            --public --file "$img" stack-tiny > /dev/null
    fi
    openstack image show stack-tiny -f value -c id -c status
}

print_credentials() {
    cat > "$STATE/admin-openrc" <<EOF
# Source me: . ${STATE#"$PWD"/}/admin-openrc
export OS_AUTH_URL=http://$HOST:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_VOLUME_API_VERSION=3
export PATH=$VENV/bin:\$PATH
EOF
}

main() {
    local lifecycle=1 t0=$SECONDS
    [ "${1:-}" = --no-lifecycle ] && lifecycle=
    [ "$(id -u)" = 0 ] || die "run as root (mounts, MariaDB, RabbitMQ)"
    [ -x "$VENV/bin/cinder-volume" ] || die "no stack venv at $VENV (run tox -e stack)"
    mkdir -p "$STATE" "$LOGS" "$PIDS" "$ETC"
    echo "$VENV" > "$STATE/venv"
    say "stack: state in ${STATE#"$REPO"/}, venv $VENV"
    step "Debian packages" "" install_packages
    step "byte-compile the venv (once)" "" compile_venv
    step "MariaDB on $HOST:3306" "mariadb" start_mariadb
    step "RabbitMQ on $HOST:5672" "rabbitmq epmd" start_rabbitmq
    step "memcached on $HOST:11211" "memcached" start_memcached
    step "etcd on $HOST:2379 (tooz coordination)" "etcd" start_etcd
    if [ -n "$STACK_NOVA" ]; then
        step "libvirt-python (needs libvirt-dev)" "" install_libvirt_python
        step "Open vSwitch (userspace datapath), ovsdb on $HOST:6640" \
            "ovsdb-server ovs-vswitchd" start_ovs
        step "OVN: NB $HOST:6641, SB $HOST:6642, northd, controller" \
            "ovn-nb ovn-sb ovn-northd ovn-controller" start_ovn
        step "libvirt (virtlogd, libvirtd; qemu TCG)" "virtlogd libvirtd" \
            start_libvirt
        step "guest image from Debian packages" "" build_guest
    fi
    step "Lustre emulator: file system $LUSTRE_FS" "" setup_lustre
    step "overlay check (change laid over cinder/os-brick)" "" \
        "$VENV/bin/python" "$REPO/harness/overlay.py" check
    step "stop running OpenStack services" "" stop_openstack
    step "write configuration" "" write_configs
    step "keystone on $HOST:5000" "keystone" start_keystone
    step "catalog: service users, volumev3, block-storage, image" "keystone" \
        register_catalog
    # After the catalog: it names the image cache's internal tenant.
    step "write cinder configuration (two back ends)" "" write_cinder_conf
    step "glance-api on $HOST:9292" "glance-api" start_glance
    if [ -n "$STACK_NOVA" ]; then
        step "placement-api on $HOST:8778" "placement-api" start_placement
        step "neutron-api (ML2/OVN) on $HOST:9696, workers" \
            "neutron-api neutron-ovn-maintenance-worker neutron-periodic-workers" \
            start_neutron
    fi
    mark_logs cinder-volume cinder-scheduler
    step "cinder db sync, api on $HOST:8776, scheduler, volume, backup" \
        "cinder-api cinder-scheduler cinder-volume cinder-backup" start_cinder
    step "cinder services up (Lustre driver set up)" \
        "cinder-volume cinder-backup cinder-scheduler" wait_cinder_up
    step "default volume type on back end $BACKEND" "cinder-api" \
        pin_default_type
    step "image stack-tiny in glance" "glance-api" upload_image
    if [ -n "$STACK_NOVA" ]; then
        step "nova: cells, api on $HOST:8774, conductor, scheduler, compute" \
            "nova-api nova-conductor nova-scheduler nova-compute" start_nova
        step "nova-compute up, in cell1 and placement" \
            "nova-compute nova-conductor placement-api" wait_compute_up
        step "guest images and flavors in glance and nova" "glance-api" \
            upload_guest
    fi
    print_credentials
    say "stack up in $((SECONDS - t0))s"
    if [ -n "$lifecycle" ]; then
        bash "$HERE/lifecycle.sh"
        [ -z "$STACK_NOVA" ] || nova_lifecycle
    fi
    say ""
    say "Credentials:  . ${STATE#"$PWD"/}/admin-openrc   (then: openstack volume list)"
    say "Logs:         ${LOGS#"$PWD"/}/   Stop: tox -e unstack [-- --wipe]"
}

main "$@"
