#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The data scenario of the stack with Nova (harness/stack/README.rst).

A real guest (harness/stack/guest) writes a known pattern on Lustre
volumes attached by nova-compute with the nova companion, and reads them
back:

 1. servers nova-lc-a and nova-lc-b boot stack-guest-writer;
 2. volumes qcow2-thin and raw-thick are attached to nova-lc-a: the
    guest writes generation 1;
 3. online snapshot of each (Nova-assisted: nova-compute puts a qcow2
    overlay under the running guest);
 4. hard reboot: the guest verifies generation 1 and writes generation 2;
 5. backup of each in-use volume;
 6. hard reboot: generation 3 (after the backup's moment);
 7. detach; restore each backup to a new volume; attach it: the guest
    must read generation 2 exactly (sha256 of header and regions);
 8. attach the sources again, delete the snapshots online (Nova merges the
    chain), check .info and the files, hard reboot: generation 3 verified,
    4 written;
 9. extend attached volumes: a raw one (Cinder, the file and the
    running guest's disk, from libvirt, must all say 2 GiB) and a qcow2
    one (refused without Nova's assisted extend: all still say 1 GiB,
    in-use, with a user message);
10. multiattach: a raw thin volume attached to both servers; a writes it,
    b reads the same bytes.

Every step prints what it checked; the end prints a table with the
checksums and writes $STATE/nova-lifecycle.json.  Exit status 0 only if
every check passed.  Runs in the stack's venv (openstacksdk):

    harness/stack/nova_lifecycle.py [--keep]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import openstack
sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'guest'))
import lga  # noqa: E402,I202

PREFIX = 'nova-lc-'
TIMEOUT = int(os.environ.get('LIFECYCLE_TIMEOUT', '300'))
STATE = os.environ['STACK_STATE_DIR']
T0 = time.monotonic()
RESULTS = {'checks': [], 'volumes': {}}


def say(text):
    print('[%6.1fs] %s' % (time.monotonic() - T0, text), flush=True)


def check(ok, what):
    RESULTS['checks'].append({'ok': bool(ok), 'what': what})
    say('%s %s' % ('ok  ' if ok else 'FAIL', what))
    return ok


class Failed(Exception):
    pass


def require(ok, what):
    if not check(ok, what):
        raise Failed(what)


def wait(what, fetch, done, failed=lambda x: False, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fetch()
        if done(value):
            return value
        if failed(value):
            raise Failed('%s: %s' % (what, value))
        time.sleep(2)
    raise Failed('%s: timed out after %ss (last: %s)' % (what, timeout, value))


class Stack:
    def __init__(self):
        self.conn = openstack.connect()
        self.bs = self.conn.block_storage
        self.compute = self.conn.compute
        with open(os.path.join(STATE, 'lustre-backing-dir')) as f:
            self.share_dir = os.path.join(f.read().strip(), 'volumes')

    # --- resources ----------------------------------------------------------

    def volume_status(self, vid):
        return self.bs.get_volume(vid).status

    def wait_volume(self, vid, want):
        return wait('volume %s -> %s' % (vid, want),
                    lambda: self.volume_status(vid), lambda s: s == want,
                    lambda s: s.startswith('error'))

    def wait_snapshot(self, sid, want):
        return wait('snapshot %s -> %s' % (sid, want),
                    lambda: self.bs.get_snapshot(sid).status,
                    lambda s: s == want, lambda s: s.startswith('error'))

    def wait_backup(self, bid, want):
        return wait('backup %s -> %s' % (bid, want),
                    lambda: self.bs.get_backup(bid).status,
                    lambda s: s == want, lambda s: s.startswith('error'))

    def wait_server(self, sid, want):
        return wait('server %s -> %s' % (sid, want),
                    lambda: self.compute.get_server(sid).status,
                    lambda s: s == want, lambda s: s == 'ERROR')

    def cleanup(self):
        for server in self.compute.servers(name='^%s' % PREFIX):
            self.compute.delete_server(server, force=True)
            self.compute.wait_for_delete(server, wait=TIMEOUT)
            say('deleted server %s' % server.name)
        for backup in self.bs.backups(details=False):
            if (backup.name or '').startswith(PREFIX):
                self.bs.delete_backup(backup, force=True)
                self.bs.wait_for_delete(backup, wait=TIMEOUT)
                say('deleted backup %s' % backup.name)
        for snap in self.bs.snapshots(details=False):
            if (snap.name or '').startswith(PREFIX):
                self.bs.delete_snapshot(snap, force=True)
                self.bs.wait_for_delete(snap, wait=TIMEOUT)
                say('deleted snapshot %s' % snap.name)
        for vol in self.bs.volumes(details=True):
            if (vol.name or '').startswith(PREFIX):
                if vol.status not in ('available', 'error'):
                    self.bs.reset_volume_status(vol, status='available',
                                                attach_status='detached',
                                                migration_status=None)
                self.bs.delete_volume(vol, force=True)
                self.bs.wait_for_delete(vol, wait=TIMEOUT)
                say('deleted volume %s' % vol.name)

    def volume_type(self, name, specs):
        vtype = self.bs.find_type(name)
        if vtype is None:
            vtype = self.bs.create_type(name=name, extra_specs=specs)
        return vtype

    # --- the guest ----------------------------------------------------------

    def console(self, server):
        return self.compute.get_server_console_output(server)['output']

    def reports(self, server):
        return lga.reports(self.console(server))

    def boot_number(self, server):
        boots = [int(r['boot']) for r in self.reports(server)
                 if r['kind'] == 'ready']
        return boots[-1] if boots else 0

    def wait_ready(self, server, boot):
        wait('%s boot %s ready' % (server.name, boot),
             lambda: self.boot_number(server), lambda b: b >= boot)

    def wait_report(self, server, serial, boot, after_seq=0, events=None):
        """The guest's first report on serial in boot after after_seq."""
        def fetch():
            for r in self.reports(server):
                if (r['kind'] == 'report' and r['serial'] == serial and
                        int(r['boot']) == boot and
                        int(r['seq']) > after_seq and
                        (events is None or r['event'] in events)):
                    return r
            return None
        return wait('%s report on %s' % (server.name, serial), fetch,
                    lambda r: r is not None)

    def last_seq(self, server, boot):
        seqs = [int(r['seq']) for r in self.reports(server)
                if r['kind'] == 'report' and int(r['boot']) == boot]
        return max(seqs) if seqs else 0

    # --- operations ---------------------------------------------------

    def boot(self, name, image, flavor):
        server = self.compute.create_server(
            name=name, image_id=image.id, flavor_id=flavor.id,
            networks='none')
        return server

    def attach(self, server, vid):
        self.compute.create_volume_attachment(server, volume=vid)
        self.wait_volume(vid, 'in-use')

    def detach(self, server, vid):
        self.compute.delete_volume_attachment(vid, server)
        self.wait_volume(vid, 'available')

    def hard_reboot(self, server):
        boot = self.boot_number(server)
        self.compute.reboot_server(server, 'HARD')
        self.wait_server(server.id, 'ACTIVE')
        self.wait_ready(server, boot + 1)
        return boot + 1

    # --- the share, as the driver left it -----------------------------

    def guest_disk_bytes(self, server, vid):
        """The size of a volume's disk as the guest's qemu has it."""
        virsh = ['virsh', '-c', 'qemu:///system']
        name = self.compute.get_server(server).instance_name
        rows = subprocess.run(virsh + ['domblklist', name, '--details'],
                              check=True, capture_output=True,
                              text=True).stdout.splitlines()
        # Type Device Target Source: the file is volume-<id>[.<snapshot>].
        [target] = [row.split()[2] for row in rows
                    if 'volume-%s' % vid in row]
        info = subprocess.run(virsh + ['domblkinfo', name, target],
                              check=True, capture_output=True,
                              text=True).stdout
        return int(info.split('Capacity:')[1].split()[0])

    def files(self, vid):
        return sorted(f for f in os.listdir(self.share_dir)
                      if f.startswith('volume-%s' % vid))

    def info(self, vid):
        path = os.path.join(self.share_dir, 'volume-%s.info' % vid)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def image_info(self, name):
        out = subprocess.run(
            ['qemu-img', 'info', '-U', '--output=json',
             os.path.join(self.share_dir, name)],
            check=True, capture_output=True, text=True).stdout
        return json.loads(out)


def expect_report(report, event, origin, gen, what):
    sha = lga.expected_sha(origin, gen)
    require(report['event'] == event and report['origin'] == origin and
            int(report['gen']) == gen and report['verified'] == 'ok' and
            report['sha'] == sha,
            '%s: guest %s gen=%s verified=%s sha=%s (expected %s gen=%s '
            'sha=%s)' % (what, report['event'], report['gen'],
                         report['verified'], report['sha'][:16], event, gen,
                         sha[:16]))
    return report['sha']


CASES = [
    # name, volume type, expected file format, provisioning
    ('qcow2-thin', 'lustre-thin', 'qcow2', 'thin'),
    ('raw-thick', 'lustre-thick', 'raw', 'thick'),
    # With lustre_qcow2_volumes (the default) a thin volume is qcow2 unless
    # it is multiattach (then raw), and libvirt refuses a qcow2 overlay on
    # a shareable disk: an online snapshot of an attached multiattach
    # volume fails in nova ("shared access for disk requires use of
    # supported storage format").  Raw thin is checked in the multiattach
    # part below.
]


def scenario(st, keep):
    be = os.environ.get('STACK_BACKEND', 'lustre')
    st.volume_type('lustre-thin', {'provisioning:type': 'thin',
                                   'volume_backend_name': be})
    st.volume_type('lustre-thick', {'provisioning:type': 'thick',
                                    'volume_backend_name': be})
    st.volume_type('lustre-multiattach', {'provisioning:type': 'thin',
                                          'multiattach': '<is> True',
                                          'volume_backend_name': be})
    image = st.compute.find_image('stack-guest-writer')
    flavor = st.compute.find_flavor('stack.tiny')

    say('boot %sa and %sb (stack-guest-writer, stack.tiny, no network)'
        % (PREFIX, PREFIX))
    a = st.boot(PREFIX + 'a', image, flavor)
    b = st.boot(PREFIX + 'b', image, flavor)
    vols = {}
    for case, vtype, _fmt, _prov in CASES:
        vols[case] = st.bs.create_volume(name=PREFIX + case, size=1,
                                         volume_type=vtype).id
    vols['multi'] = st.bs.create_volume(name=PREFIX + 'multiattach', size=1,
                                        volume_type='lustre-multiattach').id
    for sid in (a.id, b.id):
        st.wait_server(sid, 'ACTIVE')
    a = st.compute.get_server(a.id)
    b = st.compute.get_server(b.id)
    st.wait_ready(a, 1)
    st.wait_ready(b, 1)
    check(True, 'servers up; guest ready (boot 1)')
    for vid in vols.values():
        st.wait_volume(vid, 'available')

    record = RESULTS['volumes']
    for case, vtype, fmt, prov in CASES:
        vid = vols[case]
        info = st.image_info('volume-%s' % vid)
        rec = record[case] = {'id': vid, 'type': vtype,
                              'format': info['format'],
                              'virtual_size': info['virtual-size'],
                              'allocated': info.get('actual-size')}
        require(info['format'] == fmt and info['virtual-size'] == 1 << 30,
                '%s: file format %s, %s bytes' % (case, info['format'],
                                                  info['virtual-size']))
        thick = rec['allocated'] >= 1 << 30
        require(thick == (prov == 'thick'),
                '%s: %s bytes allocated (%s)' % (case, rec['allocated'],
                                                 prov))

    # 2. attach, the guest writes generation 1
    seq = st.last_seq(a, 1)
    for case, *_ in CASES:
        st.attach(a, vols[case])
    for case, *_ in CASES:
        serial = vols[case][:20]
        r = st.wait_report(a, serial, 1, seq)
        record[case]['gen1'] = expect_report(r, 'wrote', serial, 1,
                                             '%s attached' % case)

    # 3. online snapshots
    snaps = {}
    for case, *_ in CASES:
        snaps[case] = st.bs.create_snapshot(
            volume_id=vols[case], name=PREFIX + case, force=True).id
    for case, *_ in CASES:
        st.wait_snapshot(snaps[case], 'available')
        info = st.info(vols[case]) or {}
        active = info.get('active', '')
        require(snaps[case] in info and active.endswith(snaps[case]),
                '%s: online snapshot; .info active %s' % (case, active))
        require(st.image_info(active)['format'] == 'qcow2',
                '%s: the active overlay is qcow2' % case)

    # 4. the guest writes more: generation 2 on the overlay
    boot = st.hard_reboot(a)
    for case, *_ in CASES:
        serial = vols[case][:20]
        r = st.wait_report(a, serial, boot)
        record[case]['gen2'] = expect_report(
            r, 'wrote', serial, 2, '%s after the snapshot (reboot)' % case)

    # 5. backup of the in-use volumes
    backups = {}
    for case, *_ in CASES:
        backups[case] = st.bs.create_backup(
            volume_id=vols[case], name=PREFIX + case, force=True).id
        # cinder-backup takes one at a time per volume's temporary copy;
        # waiting keeps the load of 2 cores bounded.
        st.wait_backup(backups[case], 'available')
        st.wait_volume(vols[case], 'in-use')
        check(True, '%s: backup of the in-use volume' % case)

    # 6. generation 3: written after the backup's moment
    boot = st.hard_reboot(a)
    for case, *_ in CASES:
        serial = vols[case][:20]
        r = st.wait_report(a, serial, boot)
        record[case]['gen3'] = expect_report(
            r, 'wrote', serial, 3, '%s after the backup (reboot)' % case)

    # 7. detach, restore, attach the restored volume: generation 2
    for case, *_ in CASES:
        st.detach(a, vols[case])
    restored = {}
    for case, *_ in CASES:
        result = st.bs.restore_backup(backups[case],
                                      name=PREFIX + case + '-restored')
        restored[case] = result.volume_id
        st.wait_volume(restored[case], 'available')
        st.wait_backup(backups[case], 'available')
    seq = st.last_seq(a, boot)
    for case, *_ in CASES:
        st.attach(a, restored[case])
    for case, *_ in CASES:
        serial = vols[case][:20]
        r = st.wait_report(a, restored[case][:20], boot, seq)
        record[case]['restored'] = expect_report(
            r, 'verify', serial, 2, '%s restored from its backup' % case)
        require(r['sha'] == record[case]['gen2'],
                '%s: the restore reads as the volume at the backup '
                '(%s)' % (case, r['sha'][:16]))
    for case, *_ in CASES:
        st.detach(a, restored[case])

    # 8. the snapshots deleted online: Nova merges the chain
    seq = st.last_seq(a, boot)
    for case, *_ in CASES:
        st.attach(a, vols[case])
    for case, *_ in CASES:
        serial = vols[case][:20]
        r = st.wait_report(a, serial, boot, seq)
        expect_report(r, 'verify', serial, 3, '%s attached again' % case)
    for case, *_ in CASES:
        st.bs.delete_snapshot(snaps[case])
    for case, *_ in CASES:
        wait('snapshot %s deleted' % snaps[case],
             lambda: st.bs.find_snapshot(snaps[case], ignore_missing=True),
             lambda snap: snap is None,
             lambda snap: snap.status.startswith('error'))
        info = st.info(vols[case]) or {}
        files = st.files(vols[case])
        record[case]['after_merge'] = {'info': info, 'files': files}
        active = info.get('active')
        require(snaps[case] not in info and active in files and
                not any(snaps[case] in f for f in files),
                '%s: snapshot deleted online; .info %s; files %s'
                % (case, json.dumps(info), files))
    boot = st.hard_reboot(a)
    for case, *_ in CASES:
        serial = vols[case][:20]
        r = st.wait_report(a, serial, boot)
        record[case]['gen4'] = expect_report(
            r, 'wrote', serial, 4, '%s after the merge (reboot: 3 verified, '
            '4 written)' % case)

    # 9. extend attached volumes. A raw file with no snapshot the driver
    # grows, then Nova the disk under the running guest (block_resize). A
    # qcow2 image only the guest's qemu may grow: that needs Nova's
    # assisted volume extend, which no released Nova has, so the extend
    # is refused and the volume stays as it was, in-use and usable.
    raw = st.bs.create_volume(name=PREFIX + 'extend-raw', size=1,
                              volume_type='lustre-thick').id
    st.wait_volume(raw, 'available')
    st.attach(a, raw)
    extended = RESULTS['extend_attached'] = {}
    for case, vid, want in (('raw, no snapshot', raw, 2),
                            ('qcow2-thin', vols['qcow2-thin'], 1)):
        st.bs.extend_volume(vid, 2)
        vol = wait('extend %s' % vid, lambda: st.bs.get_volume(vid),
                   lambda v: v.status != 'extending',
                   lambda v: v.status.startswith('error'))
        active = (st.info(vid) or {}).get('active', 'volume-%s' % vid)
        extended[case] = {
            'status': vol.status, 'size': vol.size,
            'image_bytes': st.image_info(active)['virtual-size'],
            'guest_disk_bytes': st.guest_disk_bytes(a, vid)}
        require(extended[case] == {'status': 'in-use', 'size': want,
                                   'image_bytes': want << 30,
                                   'guest_disk_bytes': want << 30},
                '%s: extend while attached to %sG: %s'
                % (case, want, extended[case]))
    messages = st.bs.get('/messages?resource_uuid=%s' % vols['qcow2-thin'],
                         microversion='3.3').json().get('messages', [])
    extended['qcow2-thin']['messages'] = [m['user_message']
                                          for m in messages]
    require(any('extend' in m['user_message'] for m in messages),
            'qcow2-thin: the refused extend left a user message: %s'
            % extended['qcow2-thin']['messages'])
    st.detach(a, raw)

    # 10. multiattach
    vid = vols['multi']
    serial = vid[:20]
    seq_a = st.last_seq(a, boot)
    st.attach(a, vid)
    r = st.wait_report(a, serial, boot, seq_a)
    sha = expect_report(r, 'wrote', serial, 1, 'multiattach: %sa writes'
                        % PREFIX)
    seq_b = st.last_seq(b, 1)
    st.compute.create_volume_attachment(b, volume=vid)
    wait('second attachment of %s' % vid,
         lambda: len(st.bs.get_volume(vid).attachments or []),
         lambda n: n == 2)
    r = st.wait_report(b, serial, 1, seq_b)
    expect_report(r, 'verify', serial, 1, 'multiattach: %sb reads' % PREFIX)
    servers = sorted(att['server_id']
                     for att in st.bs.get_volume(vid).attachments)
    require(servers == sorted([a.id, b.id]) and r['sha'] == sha,
            'multiattach: %s attached to %sa and %sb at once, same sha %s'
            % (vid, PREFIX, PREFIX, sha[:16]))
    info = st.image_info('volume-%s' % vid)
    require(info['format'] == 'raw' and info['actual-size'] < 1 << 30,
            'multiattach: raw, thin (%s bytes allocated)'
            % info['actual-size'])
    RESULTS['multiattach'] = {'volume': vid, 'servers': servers, 'sha': sha,
                              'format': info['format'],
                              'allocated': info['actual-size']}
    if not keep:
        st.cleanup()


def table():
    print()
    print('%-11s %-8s %-16s %-16s %-16s %-16s' % (
        'volume', 'format', 'gen1 (attach)', 'gen2 (backup)', 'restored',
        'gen4 (merged)'))
    for case, rec in RESULTS['volumes'].items():
        print('%-11s %-8s %-16s %-16s %-16s %-16s' % (
            case, rec.get('format'), rec.get('gen1', '-')[:16],
            rec.get('gen2', '-')[:16], rec.get('restored', '-')[:16],
            rec.get('gen4', '-')[:16]))
    if 'multiattach' in RESULTS:
        m = RESULTS['multiattach']
        print('multiattach %-8s on %d servers, sha %s' % (
            m['format'], len(m['servers']), m['sha'][:16]))
    for case, rec in RESULTS.get('extend_attached', {}).items():
        print('extend attached %-11s %s' % (case, rec))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--keep', action='store_true',
                        help='leave the servers and volumes at the end')
    args = parser.parse_args()
    st = Stack()
    rc = 0
    try:
        st.cleanup()
        scenario(st, args.keep)
    except (Failed, openstack.exceptions.SDKException) as e:
        check(False, 'stopped: %s' % e)
        rc = 1
    RESULTS['seconds'] = round(time.monotonic() - T0)
    with open(os.path.join(STATE, 'nova-lifecycle.json'), 'w') as f:
        json.dump(RESULTS, f, indent=1)
    table()
    failed = [c for c in RESULTS['checks'] if not c['ok']]
    say('%d checks, %d failed' % (len(RESULTS['checks']), len(failed)))
    return 1 if failed else rc


if __name__ == '__main__':
    sys.exit(main())
