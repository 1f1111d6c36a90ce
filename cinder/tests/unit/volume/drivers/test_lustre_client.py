# Copyright (c) 2026 OpenStack Foundation
# All Rights Reserved.
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Unit tests for the Lustre client module, on what lfs really prints.

The samples below are the output of the Lustre versions the driver
supports, 2.12 to 2.17: captured on a real Lustre 2.17.0 file system
(ZFS OSDs, two OSTs, OST pool ``fast``), or rendered from the printf
formats of lustre-release at the tag and in the file named above each.
"""

import dataclasses
import errno
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from unittest import mock

import ddt
import eventlet
import fixtures
from os_brick import exception as brick_exception
from os_brick.remotefs import remotefs as remotefs_brick
from oslo_concurrency import lockutils
from oslo_concurrency import processutils as putils
from oslo_utils import units
import tenacity

from cinder import coordination
from cinder.tests.unit import test
from cinder.tests.unit.volume.drivers import test_lustre_rootwrap
from cinder.volume.drivers import lustre_client

SHARE = '192.168.1.10@tcp:/testfs'
SHARE2 = '192.168.1.11@o2ib,192.168.1.12@o2ib:192.168.1.13@o2ib:/lfs2/cinder'
POOL = 'testfs'
POOL2 = 'lfs2/cinder'

# A mount point as the drivers make them: longer than 15 characters, which
# lfs quota up to 2.15 prints on a line of its own.
MNT = '/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3'

TIMEOUT_EXIT = putils.ProcessExecutionError(exit_code=124, stderr='')
# The threading module of native threads, also under eventlet.
NATIVE_THREADING = eventlet.patcher.original('threading')
BUSY = putils.ProcessExecutionError(
    exit_code=32, stderr='umount: /mnt/x: target is busy.')


def unwrapped(cmd):
    """A command without the timeout(1) that runs it, if one does."""
    return tuple(cmd[4:]) if tuple(cmd[:2]) == ('timeout', '-k') else cmd


def time_limited(test_case, execute):
    """The drivers' execute: checks each command's time limit, records it.

    Every lfs command (but lfs migrate), every mount and unmount (run by
    timeout(1)) and every probe of a mount must have a time limit, and
    the rootwrap filters must allow every command run as root; the test
    fails at its end otherwise. ``execute`` records the commands without
    the time limit, as the tests compare them.
    """
    unbounded = []
    refused = []
    test_case.addCleanup(test_case.assertEqual, [], unbounded)
    test_case.addCleanup(test_case.assertEqual, [], refused)

    def run(*cmd, **kwargs):
        limit = kwargs.pop('timeout', None)
        kwargs.pop('on_execute', None)
        run.limits.append((cmd, limit))
        if (cmd[0] in ('mount', 'umount') or
                (cmd[0] in ('lfs', 'stat', 'timeout') and not limit and
                 cmd[:2] != ('lfs', 'migrate'))):
            unbounded.append(cmd)
        if kwargs.get('run_as_root') and not test_lustre_rootwrap.allowed(
                cmd):
            refused.append(cmd)
        return execute(*cmd, **kwargs)
    run.limits = []
    return run


# ---------------------------------------------------------------------------
# lfs --version: libcfs/libcfs/util/parser.c (Parser_version, v2_12_9;
# cfs_parser_version, v2_17_0): "%s %s\n", program name, version.
# ---------------------------------------------------------------------------
VERSION_2_17 = 'lfs 2.17.0\n'    # real 2.17.0

# ---------------------------------------------------------------------------
# lfs df [--lazy] [--pool FS.POOL] PATH
# ---------------------------------------------------------------------------
# Real 2.17.0: lfs df /mnt/lustre.
DF_2_17 = """\
UUID                   1K-blocks        Used   Available Use%  Mounted on
lustre-MDT0000_UUID      1818368        3712     1812608   1%  /mnt/lustre[MDT:0]
lustre-OST0000_UUID      2731008       35840     2693120   2%  /mnt/lustre[OST:0]
lustre-OST0001_UUID      2731008       35840     2693120   2%  /mnt/lustre[OST:1]

filesystem_summary:      5462016       71680     5386240   2%  /mnt/lustre

"""  # noqa: E501
# Real 2.17.0: lfs df --pool lustre.fast /mnt/lustre.
DF_2_17_POOL = """\
UUID                   1K-blocks        Used   Available Use%  Mounted on
lustre-MDT0000_UUID      1818368        3712     1812608   1%  /mnt/lustre[MDT:0]
lustre-OST0001_UUID      2731008       35840     2693120   2%  /mnt/lustre[OST:1]

filesystem_summary:      2731008       35840     2693120   2%  /mnt/lustre

"""  # noqa: E501
# Real 2.17.0: lfs df --pool lustre.nosuch /mnt/lustre (exit status 0).
DF_2_17_NO_POOL = """\
UUID                   1K-blocks        Used   Available Use%  Mounted on
lustre-MDT0000_UUID      1818368        3712     1812608   1%  /mnt/lustre[MDT:0]

filesystem_summary:            0           0           0   0%  /mnt/lustre

"""  # noqa: E501
# v2_12_9 lustre/utils/lfs.c mntdf()/showdf(): UUF" "CSF" "CSF" "CSF" "RSF
# " %-s" and "[%s:%d]" per row; a target whose statfs fails prints
# UUF": %s\n" (strerror) and is left out of the summary, and lfs exits with
# that errno (EIO, 5) after printing it. 2.14.0, 2.15.4 and 2.16.1 print the
# same rows.
DF_2_12_FAILED = """\
UUID                   1K-blocks        Used   Available Use% Mounted on
testfs-MDT0000_UUID      1048576        4096     1044480   1% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3[MDT:0]
testfs-OST0000_UUID     52428800    15728640    36700160  30% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3[OST:0]
testfs-OST0001_UUID : Input/output error

filesystem_summary:     52428800    15728640    36700160  30% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3

"""  # noqa: E501
# v2_15_4 lustre/utils/lfs.c showdf(): state flags of a target follow its
# row after a blank (D degraded, S out of space...).
DF_2_15_FLAGS = """\
UUID                   1K-blocks        Used   Available Use% Mounted on
testfs-MDT0000_UUID      1048576        4096     1044480   1% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3[MDT:0]
testfs-OST0000_UUID     52428800    15728640    36700160  30% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3[OST:0] D
testfs-OST0001_UUID     52428800    52428800           0 100% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3[OST:1] S

filesystem_summary:    104857600    68157440    36700160  65% /var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3

"""  # noqa: E501
# v2_9_0 lustre/utils/lfs.c mntdf(): the summary was "filesystem summary:".
DF_2_9 = """\
UUID                   1K-blocks        Used   Available Use% Mounted on
testfs-MDT0000_UUID      1048576        4096     1044480   1% /mnt/testfs[MDT:0]
testfs-OST0000_UUID     52428800    15728640    36700160  30% /mnt/testfs[OST:0]

filesystem summary:     52428800    15728640    36700160  30% /mnt/testfs

"""  # noqa: E501


def _line_ends(transcript):
    """A transcript whose lines that end in a space are marked with a $.

    Real lfs output pads some lines with trailing spaces; marked as cat -A
    shows them, no line of this file ends in a space.
    """
    return transcript.replace('$\n', '\n')


def lfs_df(total_gb, available_gb, osts=(0, 1), mount_point=MNT):
    """lfs df of OSTs sharing the figures (v2_15_4 lfs.c showdf formats)."""
    def row(uuid, total, avail, target=''):
        used = total - avail
        ratio = -(-used * 100 // total) if total else 0
        return '%-20s %11d %11d %11d %4s %s%s\n' % (
            uuid, total, used, avail, '%d%%' % ratio, mount_point, target)
    total, avail = total_gb * units.Mi, available_gb * units.Mi
    count = len(osts)
    return ('%-20s %11s %11s %11s %4s %s\n' % (
        'UUID', '1K-blocks', 'Used', 'Available', 'Use%', 'Mounted on') +
        row('testfs-MDT0000_UUID', 1048576, 1044480, '[MDT:0]') +
        ''.join(row('testfs-OST%04x_UUID' % index, total // count,
                    avail // count, '[OST:%d]' % index) for index in osts) +
        '\n' + row('filesystem_summary:', total, avail) + '\n')


# ---------------------------------------------------------------------------
# lfs pool_list PATH: liblustreapi.c llapi_poollist() and
# llapi_get_poollist() (v2_12_9 to v2_17_0): "Pools from %s:\n", then
# "%s.%s\n" (fsname, pool) per pool.
# ---------------------------------------------------------------------------
POOL_LIST = 'Pools from lustre:\nlustre.fast\nlustre.slow-hdd\n'

# ---------------------------------------------------------------------------
# lfs quota -p ID MNT
# ---------------------------------------------------------------------------
# Real 2.17.0: project 1002 with a limit of 100M, written 150M past it.
QUOTA_2_17_OVER = _line_ends("""\
Disk quotas for prj <unknown> (pid 1002):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace $
    /mnt/lustre 153609*       0  102400       -      2*       0       0       - $
""")  # noqa: E501
# Real 2.17.0: an unused project id.
QUOTA_2_17_FREE = _line_ends("""\
Disk quotas for prj <unknown> (pid 99999):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace $
    /mnt/lustre       0       0       0       -       0       0       0       - $
""")  # noqa: E501
# v2_17_0 lustre/utils/lfs.c print_quota_title()/print_quota_val(): the
# title names the project as /etc/projid does; an id without limits of
# its own shows the default project quota (10G here) as its limits,
# unmarked since LU-15277 (2.15.63).
QUOTA_2_17_DEFAULT = _line_ends("""\
Disk quotas for prj vol-alloc (pid 16777300):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace $
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3       0       0 10485760       -       0       0       0       - $
""")  # noqa: E501
# v2_17_0 lustre/utils/lfs.c print_quota()/print_one_quota(): values not
# every target answered for are in brackets, a "%d Some errors..." line
# follows and lfs exits with EIO.
QUOTA_2_17_INACCURATE = _line_ends("""\
Disk quotas for prj <unknown> (pid 16777302):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace $
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3     [0]       0       0       -     [0]       0       0       - $
1 Some errors happened when getting quota info. Some devices may be not working or deactivated. The data in "[]" is inaccurate.
""")  # noqa: E501
# v2_16_1 lustre/utils/lfs.c print_quota_title()/print_quota(): "%16s" for
# the mount point, never on a line of its own; the title names the id as
# given on the command line; the default project quota is unmarked.
QUOTA_2_16_DEFAULT = """\
Disk quotas for prj 16777300 (pid 16777300):
      Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3       0       0 10485760       -       0       0       0       -
"""  # noqa: E501
# v2_15_4 lustre/utils/lfs.c print_quota_title()/print_quota()/
# get_print_quota(): a mount point longer than 15 characters on its own
# line; limits that are the default project quota's marked by a line.
QUOTA_2_15_DEFAULT = """\
Disk quotas for prj 16777300 (pid 16777300):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3
                      0       0 10485760       -       0       0       0       -
pid 16777300 is using default block quota setting
pid 16777300 is using default file quota setting
"""  # noqa: E501
# v2_15_4, as above: a volume's project past its own block limit ('*'),
# with the inode limits of the default.
QUOTA_2_15_OVER = """\
Disk quotas for prj 16777301 (pid 16777301):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3
                1100000*      0 1053696       -       2       0       0       -
pid 16777301 is using default file quota setting
"""
# v2_15_4, as above: a block limit of its own that equals the default
# project quota (no "using default" line for blocks).
QUOTA_2_15_OWN_AS_DEFAULT = """\
Disk quotas for prj 16777303 (pid 16777303):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3
                      0       0 10485760       -       0       0       0       -
pid 16777303 is using default file quota setting
"""  # noqa: E501
# v2_14_0 lustre/utils/lfs.c get_print_quota(): brackets, the "Some errors"
# line without a count; exit status EIO.
QUOTA_2_14_INACCURATE = """\
Disk quotas for prj 16777302 (pid 16777302):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3
                    [0]       0       0       -     [0]       0       0       -
pid 16777302 is using default block quota setting
pid 16777302 is using default file quota setting
Some errors happened when getting quota info. Some devices may be not working or deactivated. The data in "[]" is inaccurate.
"""  # noqa: E501
# v2_12_9 lustre/utils/lfs.c get_print_quota(): an id the quota master has
# no record of inherits the default (qmt_lqe_set_default), so even with no
# default project quota set it is marked as using it.
QUOTA_2_12_FREE = """\
Disk quotas for prj 16777300 (pid 16777300):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3
                      0       0       0       -       0       0       0       -
pid 16777300 is using default block quota setting
pid 16777300 is using default file quota setting
"""


def quota_2_15(project_id, mount_point, kbytes=0, block_hard=0, files=0,
               exceeded=False, default_block=True, default_file=True):
    """lfs quota -p of 2.12 to 2.15, as the samples above.

    v2_15_4 lustre/utils/lfs.c print_quota_title(), print_quota() and
    get_print_quota() (v2_12_9 and v2_14_0 print the same).
    """
    row = ('%s\n%15s' % (mount_point, '') if len(mount_point) > 15
           else '%15s' % mount_point)
    row += ' %7s%c %6s %7s %7s' % (kbytes, '*' if exceeded else ' ', 0,
                                   block_hard, '-')
    row += ' %7s%c %6s %7s %7s' % (files, ' ', 0, 0, '-')
    lines = ['Disk quotas for prj %d (pid %d):' % (project_id, project_id),
             '%15s%8s %7s%8s%8s%8s %7s%8s%8s' % (
                 'Filesystem', 'kbytes', 'quota', 'limit', 'grace', 'files',
                 'quota', 'limit', 'grace'), row]
    lines += ['pid %d is using default %s quota setting' % (project_id, kind)
              for kind, marked in (('block', default_block),
                                   ('file', default_file)) if marked]
    return '\n'.join(lines) + '\n'


def quota_2_17(name, project_id, mount_point, kbytes=0, block_hard=0,
               files=0, exceeded=False):
    """lfs quota -p of 2.17, as the samples above.

    v2_17_0 lustre/utils/lfs.c print_quota_title(), print_quota() and
    print_quota_val() (whose '*' follows kbytes and files alike).
    """
    def val(text, over=False):
        return '%6s* ' % text if over else '%7s ' % text
    head = '%15s ' % 'Filesystem' + ''.join(val(title) for title in (
        'kbytes', 'bquota', 'blimit', 'bgrace', 'files', 'iquota',
        'ilimit', 'igrace'))
    row = ('%15s ' % mount_point + val(kbytes, exceeded) + val(0) +
           val(block_hard) + val('-') + val(files, exceeded) + val(0) +
           val(0) + val('-'))
    return 'Disk quotas for prj %s (pid %d):\n%s\n%s\n' % (
        name, project_id, head, row)


# lfs quota -P MNT, the default project quota: v2_12_9 print_quota_title()
# and print_quota(show_default) ...
QUOTA_DEFAULTS_2_12 = """\
Disk default prj quota:
     Filesystem   bquota  blimit  bgrace   iquota  ilimit  igrace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3
                     0 10485760  604800      0       0  604800
"""
# ... v2_16_1 print_quota_title()/print_quota() ("%16s", same line) ...
QUOTA_DEFAULTS_2_16 = """\
Disk default prj quota:
      Filesystem  bquota  blimit  bgrace  iquota  ilimit  igrace
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3       0 10485760  604800       0       0  604800
"""  # noqa: E501
# ... and v2_17_0 print_quota_title()/print_quota_val().
QUOTA_DEFAULTS_2_17 = _line_ends("""\
Disk default prj quota:
     Filesystem  bquota  blimit  bgrace  iquota  ilimit  igrace $
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3       0 10485760  604800       0       0  604800 $
""")  # noqa: E501

# ---------------------------------------------------------------------------
# lfs getstripe -d DIR
# ---------------------------------------------------------------------------
# Real 2.17.0: a directory without a default layout anywhere: the file
# system's default count and size, pattern 0.
GETSTRIPE_2_17_NONE = (
    'stripe_count:  1 stripe_size:   4194304 pattern:       0 '
    'stripe_offset: -1\n\n')
# Real 2.17.0: after lfs setstripe -c 2 -S 1024K on it.
GETSTRIPE_2_17_PLAIN = (
    'stripe_count:  2 stripe_size:   1048576 pattern:       raid0 '
    'stripe_offset: -1\n\n')
# Real 2.17.0: lfs setstripe -E 64M -c 1 -S 1024K -p fast -E -1 -c 2
# -S 4096K on a directory.
GETSTRIPE_2_17_PFL = """\
  lcm_layout_gen:    0
  lcm_mirror_count:  1
  lcm_entry_count:   2
    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 0
    lcme_extent.e_end:   67108864
      stripe_count:  1       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1       pool:          fast

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 67108864
    lcme_extent.e_end:   EOF
      stripe_count:  2       stripe_size:   4194304       pattern:       raid0       stripe_offset: -1       pool:          fast

"""  # noqa: E501
# v2_17_0 lustre/utils/liblustreapi.c lov_dump_comp_v1_entry() and
# lov_dump_user_lmm_header(): data on the MDT (-E 1M -L mdt -E -1 -c 1),
# whose component says mdt_index.
GETSTRIPE_2_17_DOM = """\
  lcm_layout_gen:    0
  lcm_mirror_count:  1
  lcm_entry_count:   2
    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 0
    lcme_extent.e_end:   1048576
      stripe_count:  0       stripe_size:   1048576       pattern:       mdt       mdt_index:     -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 1048576
    lcme_extent.e_end:   EOF
      stripe_count:  1       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

"""  # noqa: E501
# v2_15_4 lustre/utils/liblustreapi.c, as above: a root directory's PFL
# default as FSx for Lustre 2.15 sets it (-E 1G -c 1 -E 10G -c 8 -E 100G
# -c 16 -E -1 -c 32).
GETSTRIPE_2_15_PFL = """\
  lcm_layout_gen:    0
  lcm_mirror_count:  1
  lcm_entry_count:   4
    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 0
    lcme_extent.e_end:   1073741824
      stripe_count:  1       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 1073741824
    lcme_extent.e_end:   10737418240
      stripe_count:  8       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 10737418240
    lcme_extent.e_end:   107374182400
      stripe_count:  16       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 107374182400
    lcme_extent.e_end:   EOF
      stripe_count:  32       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

"""  # noqa: E501
# v2_15_4, as above: data on the MDT; 2.15 says stripe_offset for it.
GETSTRIPE_2_15_DOM = """\
  lcm_layout_gen:    0
  lcm_mirror_count:  1
  lcm_entry_count:   2
    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 0
    lcme_extent.e_end:   1048576
      stripe_count:  0       stripe_size:   1048576       pattern:       mdt       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 1048576
    lcme_extent.e_end:   EOF
      stripe_count:  1       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

"""  # noqa: E501
# v2_15_4, as above (an extension component prints extension_size and a
# count of 0), for the self-extending layout of lfs-setstripe(1)'s example
# -E 1G -z 64M -E -1 -z 256M: each extension component follows a
# zero-length one.
GETSTRIPE_2_15_SEL = """\
  lcm_layout_gen:    0
  lcm_mirror_count:  1
  lcm_entry_count:   4
    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 0
    lcme_extent.e_end:   0
      stripe_count:  1       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          extension
    lcme_extent.e_start: 0
    lcme_extent.e_end:   1073741824
      stripe_count:  0       extension_size: 67108864       pattern:       raid0       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          0
    lcme_extent.e_start: 1073741824
    lcme_extent.e_end:   1073741824
      stripe_count:  1       stripe_size:   1048576       pattern:       raid0       stripe_offset: -1

    lcme_id:             N/A
    lcme_mirror_id:      N/A
    lcme_flags:          extension
    lcme_extent.e_start: 1073741824
    lcme_extent.e_end:   EOF
      stripe_count:  0       extension_size: 268435456       pattern:       raid0       stripe_offset: -1

"""  # noqa: E501
# v2_16_1 lustre/utils/liblustreapi.c lov_dump_user_lmm_header(): a plain
# default with a pool, on one line.
GETSTRIPE_2_16_POOL = (
    'stripe_count:  4 stripe_size:   4194304 pattern:       raid0 '
    'stripe_offset: -1 pool:          ssd\n\n')
# v2_12_9 lustre/utils/liblustreapi.c cb_getstripe(): no default anywhere:
# the file system's defaults and pattern 0 (lov_pattern_supported(0) is
# false, so printed as "%x").
GETSTRIPE_2_12_NONE = (
    'stripe_count:  1 stripe_size:   1048576 pattern:       0 '
    'stripe_offset: -1\n\n')


@ddt.ddt
class LustreClientTestCase(test.TestCase):
    """Unit tests of the Lustre client module on its own."""

    def setUp(self):
        super(LustreClientTestCase, self).setUp()
        self.tempdir = self.useFixture(fixtures.TempDir()).path
        self.execute = mock.Mock(return_value=('', ''))

    @ddt.data('', None)
    def test_parse_mount_options_empty(self, text):
        self.assertEqual([], lustre_client.parse_mount_options(text))

    @ddt.data(('flock', ['flock']),
              ('user_xattr,noatime', ['user_xattr', 'noatime']),
              ('network=tcp1,lazystatfs', ['network=tcp1', 'lazystatfs']),
              ('mgsname=10.0.0.1@tcp:10.0.0.2@tcp',
               ['mgsname=10.0.0.1@tcp:10.0.0.2@tcp']))
    @ddt.unpack
    def test_parse_mount_options(self, text, options):
        self.assertEqual(options, lustre_client.parse_mount_options(text))

    @ddt.data('ro,', 'a b', 'x;y', '$(id)', 'opt=`id`', "'q'", 'a\\b')
    def test_parse_mount_options_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_mount_options,
                          text)

    def test_can_fallocate_real_tool(self):
        # fallocate(1) itself: a regular file on a local file system can be
        # preallocated (its first MiB); a device cannot, and its error,
        # whatever its language, is not read.
        path = os.path.join(self.tempdir, 'vol')
        self.assertTrue(lustre_client.can_fallocate(putils.execute, path,
                                                    False))
        self.assertEqual(units.Mi, os.stat(path).st_size)
        self.assertFalse(lustre_client.can_fallocate(
            putils.execute, os.devnull, False))

    def test_no_unused_fields(self):
        # What nothing reads is neither kept nor parsed: used space
        # (capacity is total and available), quota excess, the mounter's
        # options (its os-brick client has them).
        def fields(cls):
            return [field.name for field in dataclasses.fields(cls)]
        self.assertEqual(['total', 'available', 'osts', 'failed'],
                         fields(lustre_client.LfsDf))
        self.assertNotIn('exceeded', fields(lustre_client.ProjectQuota))
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, 'flock', 1)
        self.assertFalse(hasattr(mounter, 'mount_options'))

    def test_share_parse_error_message(self):
        exc = self.assertRaises(ValueError, lustre_client.LustreShare.parse,
                                'host@ib:/fs')
        self.assertIn('host@ib', str(exc))

    def test_parse_shares_result(self):
        shares = lustre_client.parse_shares(
            ['# c\n', '10.0.0.1@tcp:/a -o flock\n', '\n',
             '10.0.0.1@tcp:/a/b\n'], 'shares')
        self.assertEqual(['10.0.0.1@tcp:/a', '10.0.0.1@tcp:/a/b'],
                         list(shares))
        self.assertEqual('flock', shares['10.0.0.1@tcp:/a'][1])
        self.assertEqual('a/b', shares['10.0.0.1@tcp:/a/b'][0].name)
        self.assertEqual('/b', shares['10.0.0.1@tcp:/a/b'][0].subdir)

    def _stock_brick(self):
        """os-brick up to 7.1.1: RemoteFsClient refuses 'lustre'."""
        return self.mock_object(
            remotefs_brick.RemoteFsClient, '__init__',
            side_effect=brick_exception.ProtocolNotSupported(
                protocol='lustre'))

    def test_make_remotefs_client_adapter(self):
        # os-brick 7.1.1 refuses 'lustre': the adapter is used.
        self._stock_brick()
        client = lustre_client.make_remotefs_client(
            'sudo', self.execute, '/mnt/base', 'flock')
        self.assertIsInstance(client, lustre_client._LustreRemoteFsClient)
        self.assertEqual('lustre', client._mount_type)
        self.assertEqual('/mnt/base', client._mount_base)
        self.assertEqual('flock', client._mount_options)
        self.assertEqual('/mnt/base', client.get_mount_base())
        self.assertEqual(
            '/mnt/base/' + hashlib.md5(b'10.0.0.1@tcp:/fs',
                                       usedforsecurity=False).hexdigest(),
            client.get_mount_point('10.0.0.1@tcp:/fs'))

    def test_make_remotefs_client_adapter_mounts(self):
        self.mock_object(remotefs_brick.RemoteFsClient, '_read_mounts',
                         return_value={})
        self._stock_brick()
        client = lustre_client.make_remotefs_client(
            'sudo', self.execute, '/mnt/base', None)
        self.assertIsInstance(client, lustre_client._LustreRemoteFsClient)
        client.mount('10.0.0.1@tcp:/fs', ['-o', 'noatime'])
        mount_point = client.get_mount_point('10.0.0.1@tcp:/fs')
        self.execute.assert_called_with(
            'mount', '-t', 'lustre', '-o', 'noatime', '10.0.0.1@tcp:/fs',
            mount_point, root_helper='sudo', run_as_root=True,
            check_exit_code=0)

    def test_make_remotefs_client_brick_supports_lustre(self):
        # An os-brick that knows Lustre: its own client is used.
        mock_init = self.mock_object(remotefs_brick.RemoteFsClient,
                                     '__init__', return_value=None)
        client = lustre_client.make_remotefs_client(
            'sudo', self.execute, '/mnt/base', 'flock')
        self.assertIs(remotefs_brick.RemoteFsClient, type(client))
        mock_init.assert_called_once_with(
            'lustre', 'sudo', execute=self.execute,
            lustre_mount_point_base='/mnt/base',
            lustre_mount_options='flock')

    def test_mounter_mounted_while_waiting_for_the_lock(self):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 1)
        mount_point = mounter.get_mount_point(SHARE)
        os.makedirs(mount_point)
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value={mount_point: 'lustre'})
        mounter._mount_locked(SHARE, mount_point, None)
        self.execute.assert_not_called()

    @ddt.data(('1048576', units.Mi), ('64K', 64 * units.Ki),
              ('4m', 4 * units.Mi), ('1G', units.Gi), ('2T', 2 * units.Ti),
              (' 8M ', 8 * units.Mi))
    @ddt.unpack
    def test_parse_size(self, text, size):
        self.assertEqual(size, lustre_client.parse_size(text))

    @ddt.data('', 'M', '1.5M', '-1', '1P', '1MB')
    def test_parse_size_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_size, text)

    @ddt.data(('1', 1), ('16', 16), ('-1', -1))
    @ddt.unpack
    def test_parse_stripe_count(self, text, count):
        self.assertEqual(count, lustre_client.parse_stripe_count(text))

    @ddt.data('0', '-2', 'all', '', '1.5')
    def test_parse_stripe_count_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_stripe_count, text)

    @ddt.data('0', '100K', '65537', '4G', '8G')
    def test_parse_stripe_size_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_stripe_size, text)

    @ddt.data(('64K', 65536), ('4M', 4 * units.Mi),
              ('4194240K', 4194240 * units.Ki))
    @ddt.unpack
    def test_parse_stripe_size(self, text, size):
        self.assertEqual(size, lustre_client.parse_stripe_size(text))

    @ddt.data('', 'a' * 16, 'bad pool', 'p;q')
    def test_parse_pool_name_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_pool_name, text)

    def test_parse_pfl(self):
        self.assertEqual(
            (lustre_client.LayoutComponent(64 * units.Mi, 1),
             lustre_client.LayoutComponent(units.Gi, 4, units.Mi),
             lustre_client.LayoutComponent(None, -1)),
            lustre_client.parse_pfl('64M:1,1G:4:1M,-1:-1'))

    @ddt.data('1G:1',                 # last does not end at -1
              '-1:1,-1:2',            # -1 before the last
              '1G:1,512M:2,-1:1',     # ends do not grow
              '100K:1,-1:1',          # not a multiple of 64K
              '1G,-1:1',              # no count
              '1G:1:1M:x,-1:1',       # too many fields
              '1G:0,-1:1',            # bad count
              '1G:1:100K,-1:1')       # bad stripe size
    def test_parse_pfl_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_pfl, text)


class LfsTestBase(test.TestCase):
    """An Lfs whose commands are recorded; answers are set per test."""

    def setUp(self):
        super().setUp()
        self.execute = mock.Mock(return_value=('', ''))
        self.lfs = lustre_client.Lfs(time_limited(self, self.execute))

    def _version(self, version):
        """Make the client say it is this version (and forget the calls)."""
        self.execute.return_value = ('lfs %s\n' % version, '')
        self.lfs.version()
        self.execute.reset_mock()
        self.execute.return_value = ('', '')


@ddt.ddt
class LfsVersionTestCase(LfsTestBase):
    """lfs --version, and what depends on it."""

    @ddt.data((VERSION_2_17, (2, 17, 0)), ('lfs 2.12.9\n', (2, 12, 9)),
              ('lfs 2.15.4_ddn12\n', (2, 15, 4)), ('lfs 2.16\n', (2, 16, 0)),
              ('', None), ('lfs version unknown\n', None))
    @ddt.unpack
    def test_parse_lfs_version(self, output, version):
        self.assertEqual(version, lustre_client.parse_lfs_version(output))

    def test_version_read_once(self):
        self.execute.return_value = (VERSION_2_17, '')
        self.assertEqual((2, 17, 0), self.lfs.version())
        self.assertEqual((2, 17, 0), self.lfs.version())
        self.execute.assert_called_once_with('lfs', '--version')

    @ddt.data(('2.12.9', False), ('2.14.0', False), ('2.15.4', True),
              ('2.17.0', True), ('unknown', False))
    @ddt.unpack
    def test_migrate_keeps_holes(self, version, keeps):
        # lfs.c copies only the data of a sparse file from v2_15_0
        # (migrate_copy_data, llapi_file_is_sparse); v2_14_0 has no test.
        self._version(version)
        self.assertEqual(keeps, self.lfs.migrate_keeps_holes)

    @ddt.data('2.12.9', '2.15.4', 'unknown')
    def test_quota_defaults_marked_by_lfs(self, version):
        self._version(version)
        self.assertIsNone(self.lfs.quota_defaults(MNT))
        self.execute.assert_not_called()

    @ddt.data(('2.16.1', QUOTA_DEFAULTS_2_16), ('2.17.0', QUOTA_DEFAULTS_2_17))
    @ddt.unpack
    def test_quota_defaults_read(self, version, output):
        self._version(version)
        self.execute.return_value = (output, '')
        self.assertEqual(lustre_client.QuotaLimits(0, 10485760, 0, 0),
                         self.lfs.quota_defaults(MNT))
        self.execute.assert_called_once_with('lfs', 'quota', '-P', MNT,
                                             run_as_root=True)

    @ddt.data(((2, 17, 0), '2.17.0'), (None, 'unknown'))
    @ddt.unpack
    def test_format_version(self, version, text):
        self.assertEqual(text, lustre_client.format_version(version))


@ddt.ddt
class LfsDfTestCase(LfsTestBase):
    """lfs df: the summary, the OST rows and the failed targets."""

    @ddt.data(
        (DF_2_17, 5462016, 5386240, ('lustre-OST0000', 'lustre-OST0001')),
        (DF_2_17_POOL, 2731008, 2693120, ('lustre-OST0001',)),
        (DF_2_17_NO_POOL, 0, 0, ()),
        (DF_2_15_FLAGS, 104857600, 36700160,
         ('testfs-OST0000', 'testfs-OST0001')),
        (lfs_df(100, 70), 104857600, 73400320,
         ('testfs-OST0000', 'testfs-OST0001')))
    @ddt.unpack
    def test_parse(self, output, total_kib, available_kib, osts):
        df = lustre_client.parse_lfs_df(output)
        self.assertEqual((total_kib * units.Ki, available_kib * units.Ki),
                         (df.total, df.available))
        self.assertEqual(osts, tuple(ost.name for ost in df.osts))
        self.assertEqual((), df.failed)

    def test_parse_ost_figures(self):
        df = lustre_client.parse_lfs_df(DF_2_15_FLAGS)
        self.assertEqual(
            (lustre_client.OstSpace('testfs-OST0000', 50 * units.Gi,
                                    35 * units.Gi),
             lustre_client.OstSpace('testfs-OST0001', 50 * units.Gi, 0)),
            df.osts)
        self.assertEqual((100 * units.Gi, 35 * units.Gi),
                         (df.total, df.available))

    def test_parse_failed_target(self):
        df = lustre_client.parse_lfs_df(DF_2_12_FAILED)
        self.assertEqual((50 * units.Gi, 35 * units.Gi),
                         (df.total, df.available))
        self.assertEqual(('testfs-OST0001_UUID: Input/output error',),
                         df.failed)

    @ddt.data('', DF_2_9, 'UUID 1K-blocks Used Available Use% Mounted on\n',
              'filesystem_summary: x y z 1% /m\n')
    def test_parse_no_summary(self, output):
        # 2.9 spells it "filesystem summary:": older than the driver reads.
        self.assertRaises(lustre_client.LustreException,
                          lustre_client.parse_lfs_df, output)

    @ddt.data((('fs-OST0000', 'fs-OST0001'), []),
              (('fs-OST0000', 'fs-OST0002'), ['fs-OST0001']),
              (('fs-OST0001', 'fs-OST000b'),
               ['fs-OST%04x' % i for i in (0, 2, 3, 4, 5, 6, 7, 8, 9, 10)]),
              ((), []))
    @ddt.unpack
    def test_missing_osts(self, osts, missing):
        df = lustre_client.LfsDf(total=1, available=1, osts=tuple(
            lustre_client.OstSpace(name, 1, 1) for name in osts))
        self.assertEqual(missing, df.missing_osts)

    def test_df_is_lazy(self):
        # Without --lazy lfs df waits for every target to answer.
        self.execute.return_value = (DF_2_17, '')
        df = self.lfs.df('/mnt/x')
        self.execute.assert_called_once_with('lfs', 'df', '--lazy', '/mnt/x')
        self.assertEqual(5386240 * units.Ki, df.available)

    def test_df_pool(self):
        self.execute.return_value = (DF_2_17_POOL, '')
        df = self.lfs.df('/mnt/x', 'lustre', 'fast')
        self.execute.assert_called_once_with(
            'lfs', 'df', '--lazy', '--pool', 'lustre.fast', '/mnt/x')
        self.assertEqual(2731008 * units.Ki, df.total)

    def test_df_failed_target_exit_status(self):
        # lfs exits with the target's errno after a valid summary.
        self.execute.side_effect = putils.ProcessExecutionError(
            stdout=DF_2_12_FAILED, exit_code=5)
        df = self.lfs.df(MNT)
        self.assertEqual(50 * units.Gi, df.total)
        self.assertEqual(1, len(df.failed))

    @ddt.data(('', "lfs df: cannot open '/m': Not a Lustre filesystem", 95),
              (None, 'No such file or directory', 2))
    @ddt.unpack
    def test_df_error_without_summary_raised(self, stdout, stderr, code):
        self.execute.side_effect = putils.ProcessExecutionError(
            stdout=stdout, stderr=stderr, exit_code=code)
        self.assertRaises(putils.ProcessExecutionError, self.lfs.df, '/m')


@ddt.ddt
class LfsPoolsTestCase(LfsTestBase):
    """lfs pool_list, and the pool check before a layout is set."""

    def setUp(self):
        super().setUp()
        self.execute.side_effect = lambda *cmd, **kwargs: (
            (POOL_LIST, '') if cmd[1] == 'pool_list' else ('', ''))

    def test_parse_pool_list(self):
        self.assertEqual({'fast', 'slow-hdd'},
                         lustre_client.parse_pool_list(POOL_LIST))
        self.assertEqual(set(), lustre_client.parse_pool_list(
            'Pools from lustre:\n'))

    def test_pools(self):
        self.assertEqual({'fast', 'slow-hdd'}, self.lfs.pools('/mnt/l'))
        self.execute.assert_called_once_with('lfs', 'pool_list', '/mnt/l')

    @staticmethod
    def _layout(pool, *component_pools):
        """A plain layout in pool, or a PFL with these component pools."""
        if not component_pools:
            return lustre_client.Layout(stripe_count=2, pool=pool)
        ends = (units.Gi, None)
        return lustre_client.Layout(pool=pool, components=tuple(
            lustre_client.LayoutComponent(end, 1, None, component_pool)
            for end, component_pool in zip(ends, component_pools)))

    @ddt.data(('fast',), ('slow-hdd', None, None), (None, 'fast', 'slow-hdd'))
    def test_create_file_in_existing_pool(self, pools):
        layout = self._layout(*pools)
        self.lfs.create_file('/mnt/l/dir/f', layout, run_as_root=True)
        self.assertEqual(
            [mock.call('lfs', 'pool_list', '/mnt/l/dir'),
             mock.call('lfs', 'setstripe', *layout.setstripe_args(), '--',
                       '/mnt/l/dir/f', run_as_root=True)],
            self.execute.call_args_list)

    @ddt.data(('nosuch',), (None, 'fast', 'nosuch'))
    def test_unknown_pool_refused(self, pools):
        # lfs setstripe 2.15 accepts an unknown pool for a plain layout,
        # and versions before 2.16 for a PFL layout: the file's objects
        # then go to any OST.
        layout = self._layout(*pools)
        for operation in (self.lfs.create_file, self.lfs.migrate):
            self.execute.reset_mock()
            exc = self.assertRaises(lustre_client.LustreException,
                                    operation, '/mnt/l/f', layout)
            self.assertIn('nosuch', str(exc))
            self.execute.assert_called_once_with('lfs', 'pool_list',
                                                 '/mnt/l')

    def test_no_pool_no_check(self):
        self.lfs.migrate('/mnt/l/f', lustre_client.Layout(stripe_count=2))
        self.execute.assert_called_once_with(
            'lfs', 'migrate', '-c', '2', '--', '/mnt/l/f', run_as_root=False)


@ddt.ddt
class LfsQuotaTestCase(LfsTestBase):
    """lfs quota -p and -P of every version, and which ids are free."""

    @ddt.data(
        # sample, mount point, id: kbytes, block soft, block hard, files,
        # default block, default file, inaccurate
        (QUOTA_2_17_OVER, '/mnt/lustre', 1002,
         (153609, 0, 102400, 2, False, False, False)),
        (QUOTA_2_17_FREE, '/mnt/lustre', 99999,
         (0, 0, 0, 0, False, False, False)),
        (QUOTA_2_17_DEFAULT, MNT, 16777300,
         (0, 0, 10485760, 0, False, False, False)),
        (QUOTA_2_17_INACCURATE, MNT, 16777302,
         (0, 0, 0, 0, False, False, True)),
        (QUOTA_2_16_DEFAULT, MNT, 16777300,
         (0, 0, 10485760, 0, False, False, False)),
        (QUOTA_2_15_DEFAULT, MNT, 16777300,
         (0, 0, 10485760, 0, True, True, False)),
        (QUOTA_2_15_OVER, MNT, 16777301,
         (1100000, 0, 1053696, 2, False, True, False)),
        (QUOTA_2_14_INACCURATE, MNT, 16777302,
         (0, 0, 0, 0, True, True, True)),
        (QUOTA_2_12_FREE, MNT, 16777300,
         (0, 0, 0, 0, True, True, False)))
    @ddt.unpack
    def test_parse(self, output, mount_point, project_id, expected):
        quota = lustre_client.parse_lfs_quota(output, project_id,
                                              mount_point)
        self.assertEqual(project_id, quota.project_id)
        self.assertEqual(expected, (
            quota.kbytes, quota.block_soft, quota.block_hard, quota.files,
            quota.default_block, quota.default_file, quota.inaccurate))

    @ddt.data(
        # 2.17 titles a project <unknown> or by name: the id is in "(pid)".
        (QUOTA_2_17_FREE, '/mnt/lustre', 99999, False, None),
        (QUOTA_2_17_OVER, '/mnt/lustre', 1002, True, None),
        # Up to 2.15 lfs marks the limits of the default project quota.
        (QUOTA_2_12_FREE, MNT, 16777300, False, None),
        (QUOTA_2_15_DEFAULT, MNT, 16777300, False, None),
        (QUOTA_2_15_OVER, MNT, 16777301, True, None),
        (QUOTA_2_15_OWN_AS_DEFAULT, MNT, 16777303, True, None),
        # From 2.15.63 they are compared with lfs quota -P.
        (QUOTA_2_16_DEFAULT, MNT, 16777300, False, (0, 10485760, 0, 0)),
        (QUOTA_2_17_DEFAULT, MNT, 16777300, False, (0, 10485760, 0, 0)),
        (QUOTA_2_17_DEFAULT, MNT, 16777300, True, (0, 20971520, 0, 0)),
        (QUOTA_2_17_DEFAULT, MNT, 16777300, True, None),
        # What not every target answered for is never free.
        (QUOTA_2_17_INACCURATE, MNT, 16777302, True, None),
        (QUOTA_2_14_INACCURATE, MNT, 16777302, True, None))
    @ddt.unpack
    def test_taken(self, output, mount_point, project_id, taken, defaults):
        quota = lustre_client.parse_lfs_quota(output, project_id,
                                              mount_point)
        self.assertEqual(taken, quota.taken(
            defaults and lustre_client.QuotaLimits(*defaults)))

    @ddt.data(
        # default project quota, the id's limits, lfs marks them: taken
        ((0, 0, 0, 0), (0, 0, 5, 0), True, False),
        ((0, 0, 0, 0), (0, 0, 0, 7), False, True),
        ((0, 0, 0, 7), (0, 0, 0, 7), False, False),
        ((0, 0, 0, 7), (0, 5, 0, 7), False, True))
    @ddt.unpack
    def test_taken_limits(self, defaults, limits, marked, taken):
        bsoft, bhard, isoft, ihard = limits
        quota = lustre_client.ProjectQuota(5, 0, bsoft, bhard, 0, isoft,
                                           ihard, False, default_file=marked)
        self.assertEqual(taken, quota.taken(
            lustre_client.QuotaLimits(*defaults)))

    @ddt.data('', 'prj quotas are not enabled.\n',
              # another id's table
              QUOTA_2_17_FREE.replace('99999', '6'),
              # another mount point's row
              QUOTA_2_17_FREE.replace('/mnt/lustre', '/mnt/other'),
              'Disk quotas for prj <unknown> (pid 99999):\nno table\n',
              'Disk quotas for prj <unknown> (pid 99999):\n'
              'Filesystem kbytes bquota blimit bgrace files\n'
              '/mnt/lustre 1 2\n')
    def test_parse_invalid(self, output):
        self.assertRaises(lustre_client.LustreException,
                          lustre_client.parse_lfs_quota, output, 99999,
                          '/mnt/lustre')

    def test_mount_point_prefix_is_not_the_row(self):
        output = QUOTA_2_17_OVER.replace('    /mnt/lustre',
                                         '/mnt/lustre2\n    /mnt/lustre')
        self.assertRaises(lustre_client.LustreException,
                          lustre_client.parse_lfs_quota,
                          QUOTA_2_17_OVER.replace('/mnt/lustre',
                                                  '/mnt/lustre2'),
                          1002, '/mnt/lustre')
        self.assertEqual(153609, lustre_client.parse_lfs_quota(
            output, 1002, '/mnt/lustre').kbytes)

    def test_renderers_print_the_samples(self):
        # The renderers the driver's tests use print what lfs prints.
        self.assertEqual(QUOTA_2_17_OVER, quota_2_17(
            '<unknown>', 1002, '/mnt/lustre', 153609, 102400, 2, True))
        self.assertEqual(QUOTA_2_17_FREE, quota_2_17('<unknown>', 99999,
                                                     '/mnt/lustre'))
        self.assertEqual(QUOTA_2_17_DEFAULT, quota_2_17(
            'vol-alloc', 16777300, MNT, block_hard=10485760))
        self.assertEqual(QUOTA_2_15_OVER, quota_2_15(
            16777301, MNT, 1100000, 1053696, 2, True, default_block=False))
        self.assertEqual(QUOTA_2_15_DEFAULT, quota_2_15(
            16777300, MNT, block_hard=10485760))
        self.assertEqual(QUOTA_2_12_FREE, quota_2_15(16777300, MNT))

    @ddt.data(QUOTA_DEFAULTS_2_12, QUOTA_DEFAULTS_2_16, QUOTA_DEFAULTS_2_17)
    def test_parse_defaults(self, output):
        self.assertEqual(
            lustre_client.QuotaLimits(0, 10485760, 0, 0),
            lustre_client.parse_lfs_quota_defaults(output, MNT))

    @ddt.data('', QUOTA_2_17_DEFAULT,
              'Disk default prj quota:\nFilesystem bquota\n')
    def test_parse_defaults_invalid(self, output):
        self.assertRaises(lustre_client.LustreException,
                          lustre_client.parse_lfs_quota_defaults, output,
                          MNT)

    def test_quota(self):
        self.execute.return_value = (QUOTA_2_15_OVER, '')
        quota = self.lfs.quota(MNT, 16777301)
        self.assertEqual(1100000, quota.kbytes)
        self.execute.assert_called_once_with(
            'lfs', 'quota', '-p', '16777301', MNT, run_as_root=True)

    def test_quota_inaccurate_exit_status(self):
        # From 2.14 lfs exits with EIO after printing bracketed figures.
        self.execute.side_effect = putils.ProcessExecutionError(
            stdout=QUOTA_2_17_INACCURATE, exit_code=5)
        quota = self.lfs.quota(MNT, 16777302)
        self.assertTrue(quota.inaccurate)
        self.assertTrue(quota.taken())

    @ddt.data(('', 'prj quotas are not enabled.', 3),
              (None, 'Permission denied.', 1))
    @ddt.unpack
    def test_quota_error_raised(self, stdout, stderr, code):
        self.execute.side_effect = putils.ProcessExecutionError(
            stdout=stdout, stderr=stderr, exit_code=code)
        self.assertRaises(putils.ProcessExecutionError, self.lfs.quota,
                          MNT, 5)

    def test_project_and_setquota(self):
        self.lfs.set_project([MNT + '/a', MNT + '/a.info'], 9)
        self.lfs.setquota(MNT, 9, 2048)
        self.assertEqual([
            mock.call('lfs', 'project', '-p', '9', '--', MNT + '/a',
                      MNT + '/a.info', run_as_root=True),
            mock.call('lfs', 'setquota', '-p', '9', '-B', '2048K', MNT,
                      run_as_root=True)],
            self.execute.call_args_list)


@ddt.ddt
class LfsGetstripeTestCase(LfsTestBase):
    """lfs getstripe -d: plain, progressive and data-on-MDT defaults."""

    @ddt.data(
        # sample: composite, count, size, description, setstripe arguments
        (GETSTRIPE_2_17_NONE, False, 1, 4194304, None, ['-c', '1', '-S',
                                                        '4096K']),
        (GETSTRIPE_2_12_NONE, False, 1, 1048576, None, ['-c', '1', '-S',
                                                        '1024K']),
        (GETSTRIPE_2_17_PLAIN, False, 2, 1048576, None, ['-c', '2', '-S',
                                                         '1024K']),
        (GETSTRIPE_2_16_POOL, False, 4, 4194304, None,
         ['-c', '4', '-S', '4096K', '-p', 'ssd']),
        (GETSTRIPE_2_17_PFL, True, None, None, '64M:1:1M,-1:2:4M',
         ['-E', '65536K', '-c', '1', '-S', '1024K', '-p', 'fast',
          '-E', '-1', '-c', '2', '-S', '4096K', '-p', 'fast']),
        (GETSTRIPE_2_15_PFL, True, None, None,
         '1G:1:1M,10G:8:1M,100G:16:1M,-1:32:1M',
         ['-E', '1048576K', '-c', '1', '-S', '1024K',
          '-E', '10485760K', '-c', '8', '-S', '1024K',
          '-E', '104857600K', '-c', '16', '-S', '1024K',
          '-E', '-1', '-c', '32', '-S', '1024K']),
        (GETSTRIPE_2_17_DOM, True, None, None, '1M:mdt,-1:1:1M', None),
        (GETSTRIPE_2_15_DOM, True, None, None, '1M:mdt,-1:1:1M', None),
        (GETSTRIPE_2_15_SEL, True, None, None,
         '0:1:1M,1G:extension:64M,1G:1:1M,-1:extension:256M', None))
    @ddt.unpack
    def test_parse(self, output, composite, count, size, description, args):
        defaults = lustre_client.parse_stripe_defaults(output)
        self.assertEqual(composite, defaults.composite)
        self.assertEqual((count, size),
                         (defaults.stripe_count, defaults.stripe_size))
        self.assertEqual(description, defaults.describe())
        layout = defaults.layout()
        self.assertEqual(args, layout and layout.setstripe_args())

    def test_parse_pattern_zero(self):
        # A directory without a default anywhere prints pattern 0, not
        # raid0: what it prints is the file system's default.
        defaults = lustre_client.parse_stripe_defaults(GETSTRIPE_2_17_NONE)
        self.assertEqual('0', defaults.components[0].pattern)

    def test_parse_component_pools(self):
        output = GETSTRIPE_2_17_PFL.replace(
            'stripe_count:  1       stripe_size:   1048576       pattern:'
            '       raid0       stripe_offset: -1       pool:          fast',
            'stripe_count:  1       stripe_size:   1048576       pattern:'
            '       raid0       stripe_offset: -1       pool:          ssd')
        layout = lustre_client.parse_stripe_defaults(output).layout()
        self.assertIsNone(layout.pool)
        self.assertEqual({'ssd', 'fast'}, layout.pools())
        self.assertEqual(['-E', '65536K', '-c', '1', '-S', '1024K', '-p',
                          'ssd', '-E', '-1', '-c', '2', '-S', '4096K', '-p',
                          'fast'], layout.setstripe_args())

    def test_parse_mirrors_not_expressible(self):
        output = GETSTRIPE_2_17_PFL.replace('lcm_mirror_count:  1',
                                            'lcm_mirror_count:  2')
        defaults = lustre_client.parse_stripe_defaults(output)
        self.assertEqual(2, defaults.mirrors)
        self.assertIsNone(defaults.layout())

    @ddt.data('', 'lcm_layout_gen:    0\nlcm_entry_count:   2\n',
              "error: cannot get stripe of '/m'")
    def test_parse_none(self, output):
        self.assertIsNone(lustre_client.parse_stripe_defaults(output))

    def test_stripe_defaults(self):
        self.execute.return_value = (GETSTRIPE_2_17_PLAIN, '')
        self.assertEqual(2, self.lfs.stripe_defaults('/m').stripe_count)
        self.execute.assert_called_once_with('lfs', 'getstripe', '-d', '/m')


@ddt.ddt
class LfsLayoutArgumentsTestCase(LfsTestBase):
    """What the drivers pass lfs setstripe, whatever the operator wrote."""

    @ddt.data(({}, []),
              ({'stripe_count': 4}, ['-c', '4']),
              ({'stripe_count': 0}, ['-c', '0']),
              ({'stripe_size': '1M'}, ['-S', '1M']),
              ({'pool': 'flash'}, ['-p', 'flash']),
              ({'stripe_count': -1, 'stripe_size': '4M', 'pool': 'p',
                'run_as_root': True}, ['-c', '-1', '-S', '4M', '-p', 'p']))
    @ddt.unpack
    def test_setstripe(self, kwargs, args):
        self.lfs.setstripe('/mnt/x', **kwargs)
        self.execute.assert_called_once_with(
            'lfs', 'setstripe', *args, '--', '/mnt/x',
            run_as_root=kwargs.get('run_as_root', False))

    @ddt.data(('010M', '10M'), ('08M', '8M'), ('1048576', '1M'),
              ('64k', '64K'), ('192K', '192K'), ('4032M', '4032M'),
              ('1g', '1G'))
    @ddt.unpack
    def test_stripe_size_normalised(self, written, passed):
        # lfs parses sizes as C does with base 0: 010M would be 8 MiB and
        # 08M an error; Cinder's options are decimal.
        self.lfs.setstripe('/mnt/x', stripe_size=written)
        self.execute.assert_called_once_with(
            'lfs', 'setstripe', '-S', passed, '--', '/mnt/x',
            run_as_root=False)
        self.assertEqual(passed, lustre_client.stripe_size_arg(written))

    def test_create_file(self):
        layout = lustre_client.Layout(stripe_count=2)
        self.lfs.create_file('/mnt/f', layout)
        self.execute.assert_called_once_with(
            'lfs', 'setstripe', '-c', '2', '--', '/mnt/f', run_as_root=False)

    @ddt.data((0, '0'), (65536, '64K'), (3 * units.Mi, '3M'),
              (10 * units.Gi, '10G'), (2 * units.Ti, '2T'), (1000, '1000'))
    @ddt.unpack
    def test_format_size(self, size, text):
        self.assertEqual(text, lustre_client.format_size(size))


@ddt.ddt
class LustreShareTestCase(test.TestCase):
    """Shares and their NIDs, as mount.lustre 2.12 to 2.17 takes them."""

    @ddt.data(
        # (share, fsname, subdir)
        ('10.0.0.1@tcp:/testfs', 'testfs', ''),
        ('10.0.0.1@tcp0:/testfs/a/b', 'testfs', '/a/b'),
        ('0@lo:/lustre', 'lustre', ''),
        ('192.168.1.5@o2ib1,10.0.0.1@tcp:/fs', 'fs', ''),
        ('mgs1.example.com@tcp:mgs2.example.com@tcp:/fs/', 'fs', ''),
        ('12@gni:0x1f@kfi2:/fs', 'fs', ''),
        ('localhost@lo:/fs', 'fs', ''),
        # Without @NET a NID is on tcp0 (libcfs_strnid).
        ('10.0.0.1:/testfs', 'testfs', ''),
        ('mgs1:/testfs/vols', 'testfs', '/vols'),
        ('mgs1,10.0.0.5:mgs2:/fs', 'fs', ''),
        # IPv6 NIDs (Lustre 2.17, tcp and efa): their colons are theirs.
        ('2001:db8::1@tcp:/fs', 'fs', ''),
        ('2001:db8::1@tcp,10.0.0.1@o2ib:2001:db8:0:1::2@tcp1:/fs/v',
         'fs', '/v'),
        ('fd00::5@efa:/fs', 'fs', ''),
        # A host name of hexadecimal digits: 2.16+ cannot split it from the
        # next NID, 2.15 and earlier can.
        ('cafe:/fs', 'fs', ''),
    )
    @ddt.unpack
    def test_parse_valid(self, address, fsname, subdir):
        share = lustre_client.LustreShare.parse(address)
        self.assertEqual((address, fsname, subdir),
                         (share.address, share.fsname, share.subdir))

    @ddt.data(
        '10.0.0.1@TCP:/fs',               # networks are lower case
        '10.0.0.1@tcpx:/fs',              # not a network
        '10.0.0.1@lo1:/fs',               # lo takes no number
        '10.0.0.1@ib:/fs',                # not a network
        '10.0.0.256@tcp:/fs',             # not an IPv4 address
        '1mgs@tcp:/fs',                   # a host name starts with a letter
        'mgs_1@tcp:/fs',                  # not a host name
        'mgs1@gni:/fs',                   # gni addresses are numbers
        '2001:db8::1@o2ib:/fs',           # IPv6 only on tcp and efa
        '::1@tcp:/fs',                    # loopback
        'fe80::1@tcp:/fs',                # link-local
        '2001:db8::1:/fs',                # IPv6 needs @NET to end it
        '2001:db8::g@tcp:/fs',            # not an IPv6 address
        '10.0.0.1@tcp,:/fs',              # empty NID
        '10.0.0.1@tcp::10.0.0.2@tcp:/fs',  # empty failover node
        ':/fs',                           # no NID
        '10.0.0.1@tcp/fs',                # no ':/'
        '10.0.0.1@tcp:/a/../b',           # '..'
        '10.0.0.1@tcp:/toolongfs',        # fsname over 8 characters
    )
    def test_parse_invalid(self, address):
        exc = self.assertRaises(ValueError, lustre_client.LustreShare.parse,
                                address)
        self.assertTrue(address in str(exc) or 'Lustre NID' in str(exc),
                        str(exc))

    @ddt.data(
        # What mount.lustre 2.16+ takes as NIDs (cfs_nidstr_find_delimiter),
        # each with the delimiter after it.
        ('10.0.0.1@tcp,10.0.0.2@o2ib:mgs2:/fs',
         [('10.0.0.1@tcp', ','), ('10.0.0.2@o2ib', ':'), ('mgs2', ':')]),
        ('2001:db8::1@tcp:2001:db8::2@tcp:/fs',
         [('2001:db8::1@tcp', ':'), ('2001:db8::2@tcp', ':')]),
        ('mgs1:10.0.0.2:/fs', [('mgs1', ':'), ('10.0.0.2', ':')]),
        # Without @NET nothing ends these before the path.
        ('cafe:/fs', [('cafe:/fs', '')]),
        ('2001:db8::1:/fs', [('2001:db8::1:/fs', '')]),
        ('a@tcp,:/fs', [('a@tcp', ','), (':/fs', '')]),
    )
    @ddt.unpack
    def test_split_nids(self, address, nids):
        self.assertEqual(nids, lustre_client._split_nids(
            address, address.index(':/')))

    @ddt.data(
        ('10.0.0.1@tcp:/fs', (('10.0.0.1@tcp',),)),
        ('a@tcp,b@o2ib:c@tcp,d@o2ib:/fs/x',
         (('a@tcp', 'b@o2ib'), ('c@tcp', 'd@o2ib'))),
        ('2001:db8::1@tcp,10.0.0.1@o2ib:2001:db8::2@tcp:/fs',
         (('2001:db8::1@tcp', '10.0.0.1@o2ib'), ('2001:db8::2@tcp',))),
        ('mgs1:mgs2:/fs', (('mgs1',), ('mgs2',))),
        ('cafe:beef,10.0.0.3:/fs', (('cafe',), ('beef', '10.0.0.3'))),
    )
    @ddt.unpack
    def test_mgs_nodes(self, address, nodes):
        # Colons join failover nodes, commas the NIDs of one node.
        self.assertEqual(nodes,
                         lustre_client.LustreShare.parse(address).mgs_nodes)


@ddt.ddt
class LustreMountTableTestCase(test.TestCase):
    """/proc/mounts as the kernel writes it."""

    def setUp(self):
        super().setUp()
        self.tempdir = self.useFixture(fixtures.TempDir()).path

    def _mounts(self, content):
        path = os.path.join(self.tempdir, 'mounts')
        with open(path, 'wb') as f:
            f.write(content)
        return lustre_client.read_mount_points(path)

    def test_read_mount_points(self):
        self.assertEqual(
            {'/proc': 'proc', '/mnt/abc': 'lustre',
             '/mnt/with space': 'lustre'},
            self._mounts(b'proc /proc proc rw 0 0\n'
                         b'10.0.0.1@tcp:/fs /mnt/abc lustre rw,flock 0 0\n'
                         b'10.0.0.1@tcp:/fs2 /mnt/with\\040space lustre rw '
                         b'0 0\nshort\n\n'))

    @ddt.data(
        # The kernel escapes blank, tab, newline and backslash as octal and
        # writes every other byte as it is: UTF-8 names come out as UTF-8.
        ('/var/lib/cinder/donn\u00e9es/mnt',
         b'/var/lib/cinder/donn\xc3\xa9es/mnt'),
        ('/m/\u30dc\u30ea\u30e5\u30fc\u30e0 x',
         b'/m/\xe3\x83\x9c\xe3\x83\xaa\xe3\x83\xa5\xe3\x83\xbc\xe3\x83\xa0'
         b'\\040x'),
        ('/m/a\tb\nc\\d', b'/m/a\\011b\\012c\\134d'),
        ('/m/\\x41', b'/m/\\134x41'),
        # A byte that is not UTF-8 comes back as os.fsdecode gives it.
        (os.fsdecode(b'/m/\xff'), b'/m/\xff'),
    )
    @ddt.unpack
    def test_read_mount_points_unescapes_octal_only(self, path, field):
        self.assertEqual(
            {path: 'lustre'},
            self._mounts(b'10.0.0.1@tcp:/fs %s lustre rw 0 0\n' % field))

    def test_read_mount_points_stacked_mounts(self):
        # Of two mounts on one mount point, the later one is visible.
        self.assertEqual({'/mnt/x': 'tmpfs'},
                         self._mounts(b'a /mnt/x lustre rw 0 0\n'
                                      b'tmpfs /mnt/x tmpfs rw 0 0\n'))

    def test_read_mount_points_of_this_host(self):
        mounts = lustre_client.read_mount_points()
        self.assertIn('/', mounts)


class FakeHost(object):
    """The mount table and the commands of a host, for a LustreMounter.

    ``umount`` and ``stat`` results are scripted: each call takes the next
    one (None succeeds, an exception is raised); with none left they
    succeed. A successful umount takes the mount away.
    """

    def __init__(self, test_case, mount_point):
        self.mount_point = mount_point
        self.mounts = {}
        self.commands = []
        self.limits = []
        self.umount_results = []
        self.stat_results = []
        self.mount_results = []
        test_case.mock_object(lustre_client, 'read_mount_points',
                              side_effect=lambda: dict(self.mounts))

    def execute(self, *cmd, **kwargs):
        self.limits.append(kwargs.get('timeout'))
        if cmd[:2] == ('timeout', '-k'):
            self.commands.append(cmd[4:])
            name = cmd[4]
        else:
            self.commands.append(cmd)
            name = cmd[0]
        results = {'mount': self.mount_results, 'umount': self.umount_results,
                   'stat': self.stat_results}.get(name, [])
        result = results.pop(0) if results else None
        if result is not None:
            raise result
        if name == 'mount':
            self.mounts[cmd[-1]] = 'lustre'
        elif name == 'umount':
            self.mounts.pop(cmd[-1], None)
        return '', ''

    def names(self):
        return [cmd[0] for cmd in self.commands]


@ddt.ddt
class LustreMounterTestCase(test.TestCase):
    """Mounting, stale mounts and unmounting, with their time limits."""

    def setUp(self):
        super().setUp()
        self.tempdir = self.useFixture(fixtures.TempDir()).path
        self.mock_sleep = self.mock_object(time, 'sleep')
        self.mounter = self._mounter()
        self.mount_point = self.mounter.get_mount_point(SHARE)
        self.host = FakeHost(self, self.mount_point)
        self.mounter._execute = self.host.execute
        self.real_stat = os.stat
        self.stat_errors = []
        self.mock_object(lustre_client.os, 'stat', side_effect=self._stat)

    def _mounter(self, attempts=3, **kwargs):
        return lustre_client.LustreMounter(
            'sudo cinder-rootwrap /etc/cinder/rootwrap.conf', None,
            os.path.join(self.tempdir, 'mnt'), 'flock', attempts, **kwargs)

    def _stat(self, path, *args, **kwargs):
        if path == self.mount_point and self.stat_errors:
            error = self.stat_errors.pop(0)
            raise OSError(error, os.strerror(error))
        return self.real_stat(path, *args, **kwargs)

    def _mounted(self):
        os.makedirs(self.mount_point, exist_ok=True)
        self.host.mounts[self.mount_point] = 'lustre'

    def _fake_clock(self):
        """lustre_client's clock: time passes only when it sleeps."""
        clock = mock.Mock(now=0.0)
        clock.monotonic.side_effect = lambda: clock.now
        clock.sleep.side_effect = lambda s: setattr(clock, 'now',
                                                    clock.now + s)
        self.mock_object(lustre_client, 'time', clock)
        return clock

    # -- mounting ------------------------------------------------------------

    def test_mount(self):
        self.assertEqual(self.mount_point,
                         self.mounter.ensure_mounted(SHARE, 'noatime'))
        self.assertEqual(
            [('mount', '-t', 'lustre', '-o', 'flock,noatime', SHARE,
              self.mount_point)], self.host.commands)
        self.assertTrue(os.path.isdir(self.mount_point))
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)

    def test_mount_is_time_limited(self):
        mock_execute = mock.Mock(return_value=('', ''))
        mounter = self._mounter(mount_timeout=45)
        mounter._execute = mock_execute
        self.mock_object(mounter, 'is_mounted',
                         side_effect=[False, False, True])
        mounter.ensure_mounted(SHARE)
        # timeout(1) stops it after 45 s (and kills it 2 s later); the
        # service stops waiting a second after that whatever happens.
        mock_execute.assert_called_once_with(
            'timeout', '-k', '2', '45', 'mount', '-t', 'lustre', '-o',
            'flock', SHARE, self.mount_point,
            root_helper=mounter._root_helper, run_as_root=True, timeout=48,
            on_execute=mock.ANY)

    def test_mount_without_options(self):
        mounter = lustre_client.LustreMounter(
            'sudo', self.host.execute, os.path.join(self.tempdir, 'mnt'),
            None, 1)
        mounter.ensure_mounted(SHARE)
        self.assertEqual([('mount', '-t', 'lustre', SHARE, self.mount_point)],
                         self.host.commands)

    @ddt.data(1, 2, 4)
    def test_mount_attempts(self, attempts):
        mounter = self._mounter(attempts)
        mounter._execute = self.host.execute
        self.host.mount_results = [putils.ProcessExecutionError(
            exit_code=5, stderr='mount.lustre: ... Input/output error')] * 9
        exc = self.assertRaises(lustre_client.LustreException,
                                mounter.ensure_mounted, SHARE)
        self.assertIn('Input/output error', str(exc))
        self.assertIn(SHARE, str(exc))
        self.assertEqual(['mount'] * attempts, self.host.names())
        # utils.retry: 1, 2, 4... seconds apart.
        self.assertEqual([mock.call(2 ** n) for n in range(attempts - 1)],
                         tenacity.nap.sleep.call_args_list)

    def test_mount_retried_then_mounted(self):
        self.host.mount_results = [putils.ProcessExecutionError(
            exit_code=110, stderr='Connection timed out')]
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual(['mount', 'mount'], self.host.names())
        tenacity.nap.sleep.assert_called_once_with(1)

    def test_mount_that_hangs_is_stopped_and_retried(self):
        # timeout(1) stopped it: exit status 124, or 137 after KILL.
        self.host.mount_results = [
            TIMEOUT_EXIT, putils.ProcessExecutionError(exit_code=137)]
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual(['mount'] * 3, self.host.names())

    def test_mount_that_never_returns(self):
        # Not even timeout(1) returns (its command is stuck in the kernel):
        # the service stops waiting.
        self.host.mount_results = [subprocess.TimeoutExpired('mount', 123)] * 3
        exc = self.assertRaises(lustre_client.LustreException,
                                self.mounter.ensure_mounted, SHARE)
        self.assertIn('did not finish within 120 seconds', str(exc))
        self.assertEqual([123] * 3, self.host.limits)

    def test_mounted_meanwhile_by_someone_else(self):
        # mount fails (EEXIST), but the share is mounted now: it is used.
        def mounted_by_other(*cmd, **kwargs):
            self._mounted()
            raise putils.ProcessExecutionError(exit_code=17)
        self.mounter._execute = mounted_by_other
        self.assertEqual(self.mount_point,
                         self.mounter.ensure_mounted(SHARE))
        tenacity.nap.sleep.assert_not_called()

    def test_mount_not_in_proc_mounts_refused(self):
        # mount returned 0 but the mount point is not a mount: never use
        # the bare local directory.
        self.mounter._execute = mock.Mock(return_value=('', ''))
        exc = self.assertRaises(lustre_client.LustreException,
                                self.mounter.ensure_mounted, SHARE)
        self.assertIn('not mounted', str(exc))

    def test_healthy_mount_takes_no_lock(self):
        self._mounted()
        mock_lock = self.mock_object(lockutils, 'lock')
        self.assertEqual(self.mount_point,
                         self.mounter.ensure_mounted(SHARE))
        mock_lock.assert_not_called()
        self.assertEqual([], self.host.commands)

    def test_at_least_one_attempt(self):
        mounter = self._mounter(0)
        self.assertEqual(1, mounter.mount_attempts)
        self.assertEqual(os.path.realpath(os.path.join(self.tempdir, 'mnt')),
                         mounter.mount_point_base)

    # -- what is mounted there -----------------------------------------------

    def test_is_mounted(self):
        self.assertFalse(self.mounter.is_mounted(self.mount_point))
        self._mounted()
        self.assertTrue(self.mounter.is_mounted(self.mount_point))

    @ddt.data('nfs4', 'tmpfs', 'ext4', 'fuse.lustre')
    def test_other_file_system_refused(self, fs_type):
        # Not mounted over, not used, not unmounted: the operator decides.
        self.host.mounts[self.mount_point] = fs_type
        exc = self.assertRaises(lustre_client.LustreNotLustreMount,
                                self.mounter.ensure_mounted, SHARE)
        self.assertIn(self.mount_point, str(exc))
        self.assertIn(fs_type, str(exc))
        self.assertEqual([], self.host.commands)
        self.assertEqual({self.mount_point: fs_type}, self.host.mounts)

    # -- stale mounts --------------------------------------------------------

    def test_one_transient_eio_keeps_the_mount(self):
        # An operation caught in an eviction fails; the client reconnects:
        # the mount answers the file system check and is kept.
        self._mounted()
        self.stat_errors = [errno.EIO, errno.EIO]
        self.assertEqual(self.mount_point,
                         self.mounter.ensure_mounted(SHARE))
        self.assertEqual([('stat', '-f', self.mount_point)],
                         self.host.commands)
        self.assertEqual([10], self.host.limits)
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)

    def test_error_gone_once_locked_keeps_the_mount(self):
        self._mounted()
        self.stat_errors = [errno.ESHUTDOWN]
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual([], self.host.commands)

    def test_mount_that_recovers_while_probed_is_kept(self):
        self._mounted()
        self.stat_errors = [errno.ESHUTDOWN, errno.ESHUTDOWN]
        self.host.stat_results = [putils.ProcessExecutionError(exit_code=1),
                                  None]
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual(['stat', 'stat'], self.host.names())
        self.mock_sleep.assert_called_once_with(2)

    @ddt.data(errno.ENOTCONN, errno.ESHUTDOWN, errno.EIO, errno.ESTALE)
    def test_stale_mount_is_mounted_again(self, error):
        self._mounted()
        self.stat_errors = [error, error]
        self.host.stat_results = [
            putils.ProcessExecutionError(exit_code=1),
            lustre_client.CommandTimedOut(('stat',), 10),
            subprocess.TimeoutExpired('stat', 10)]
        self.mounter.ensure_mounted(SHARE)
        # Three probes two seconds apart, then a plain unmount: nobody
        # used the mount, nothing is forced.
        self.assertEqual(
            [('stat', '-f', self.mount_point)] * 3 +
            [('umount', '-c', self.mount_point),
             ('mount', '-t', 'lustre', '-o', 'flock', SHARE,
              self.mount_point)], self.host.commands)
        self.assertEqual([mock.call(2), mock.call(2)],
                         self.mock_sleep.call_args_list)
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)

    def test_mount_gone_while_probed_is_mounted_again(self):
        # What answered the probe was the local directory: the mount went
        # meanwhile. It is mounted again, with nothing to unmount.
        self._mounted()
        self.stat_errors = [errno.EIO, errno.EIO]
        probes = []

        def execute(*cmd, **kwargs):
            if cmd[0] == 'stat':
                probes.append(cmd)
                if len(probes) == 1:
                    raise putils.ProcessExecutionError(exit_code=1)
                self.host.mounts.clear()
            return self.host.execute(*cmd, **kwargs)
        self.mounter._execute = execute
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual(2, len(probes))
        self.assertEqual(['stat', 'mount'], self.host.names())
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)

    @ddt.data(False, True)
    def test_hung_stat_is_not_waited_for(self, threads):
        # A stat of a mount whose servers are gone waits in the kernel
        # (with eventlet, for every green thread): the check stops waiting,
        # the probes time out too, and the mount is replaced.
        self.mock_object(lustre_client.utils, 'concurrency_mode_threading',
                         return_value=threads)
        self.mock_object(lustre_client, 'STALE_PROBE_TIMEOUT', 0.1)
        self._mounted()
        # Without eventlet, a thread; with it, one of tpool's, native.
        release = (threading if threads else NATIVE_THREADING).Event()
        self.addCleanup(release.set)
        hung = []
        returned = []
        real_stat = self.real_stat

        def stat(path, *args, **kwargs):
            # Only the two checks before the remount stat the mount point
            # (the second may run late, even while it is unmounted).
            if path == self.mount_point:
                hung.append(path)
                release.wait(10)
                returned.append(path)
            return real_stat(path, *args, **kwargs)
        lustre_client.os.stat.side_effect = stat
        # The mount point exists: makedirs would stat it too.
        self.mock_object(lustre_client.os, 'makedirs')
        self.host.stat_results = [TIMEOUT_EXIT] * 3
        self.mounter.ensure_mounted(SHARE)
        # The mount was replaced while the stats hang.
        self.assertEqual([], returned)
        release.set()
        # On a busy host the second check's stat may enter only now, or
        # once a thread is free (it failed once in CI: never, within the
        # ten seconds the first one hung).
        deadline = time.monotonic() + 10
        while len(hung) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(2, len(hung))
        self.assertEqual(['stat'] * 3 + ['umount', 'mount'],
                         self.host.names())

    @ddt.data(False, True)
    def test_stat_within(self, threads):
        self.mock_object(lustre_client.utils, 'concurrency_mode_threading',
                         return_value=threads)
        self.assertEqual(self.real_stat(self.tempdir).st_ino,
                         lustre_client.stat_within(self.tempdir, 5).st_ino)
        exc = self.assertRaises(OSError, lustre_client.stat_within,
                                os.path.join(self.tempdir, 'missing'), 5)
        self.assertEqual(errno.ENOENT, exc.errno)

    @ddt.data(errno.EACCES, errno.ENOENT, errno.EPERM)
    def test_mount_check_other_errors_reraised(self, error):
        self._mounted()
        self.stat_errors = [error]
        exc = self.assertRaises(OSError, self.mounter.ensure_mounted, SHARE)
        self.assertEqual(error, exc.errno)
        self.assertEqual([], self.host.commands)

    # -- unmounting ----------------------------------------------------------

    def test_umount(self):
        self._mounted()
        self.mounter.umount(self.mount_point)
        self.assertEqual([('umount', '-c', self.mount_point)],
                         self.host.commands)
        self.assertEqual({}, self.host.mounts)

    def test_umount_time_limits(self):
        self._mounted()
        mock_execute = mock.Mock(side_effect=[TIMEOUT_EXIT, TIMEOUT_EXIT,
                                              ('', '')])
        mounter = self._mounter(umount_timeout=60)
        mounter._execute = mock_execute
        self._fake_clock()
        self.assertRaises(lustre_client.LustreException, mounter.umount,
                          self.mount_point)
        # Half, a third and a sixth of lustre_umount_timeout.
        self.assertEqual(
            [mock.call('timeout', '-k', '2', seconds, 'umount', '-c',
                       *flags, self.mount_point,
                       root_helper=mounter._root_helper, run_as_root=True,
                       timeout=int(seconds) + 3, on_execute=mock.ANY)
             for seconds, flags in (('30', ()), ('20', ('-f',)),
                                    ('10', ('-l',)))],
            mock_execute.call_args_list)

    def test_busy_mount_is_drained_then_detached_never_forced(self):
        # Operations still use the mount: umount is refused while they
        # run. They are given half the time to finish; then the mount is
        # detached, and they keep their open files. -f, which would abort
        # them, is never used.
        self._mounted()
        clock = self._fake_clock()
        self.host.umount_results = [BUSY] * 15
        self.mounter.umount(self.mount_point)
        self.assertEqual([('umount', '-c', self.mount_point)] * 15 +
                         [('umount', '-c', '-l', self.mount_point)],
                         self.host.commands)
        self.assertEqual(14, clock.now)
        self.assertEqual({}, self.host.mounts)

    def test_busy_mount_drains_in_time(self):
        self._mounted()
        self.host.umount_results = [BUSY, BUSY]
        self.mounter.umount(self.mount_point)
        self.assertEqual([('umount', '-c', self.mount_point)] * 3,
                         self.host.commands)
        self.assertEqual([mock.call(1), mock.call(1)],
                         self.mock_sleep.call_args_list)

    def test_hung_umount_is_forced(self):
        # umount hung after the kernel found the mount unused: -f aborts
        # what keeps it waiting (requests to servers that are gone).
        self._mounted()
        self.host.umount_results = [TIMEOUT_EXIT]
        self.mounter.umount(self.mount_point)
        self.assertEqual([('umount', '-c', self.mount_point),
                          ('umount', '-c', '-f', self.mount_point)],
                         self.host.commands)

    def test_hung_forced_umount_is_detached(self):
        self._mounted()
        self.host.umount_results = [TIMEOUT_EXIT,
                                    subprocess.TimeoutExpired('umount', 13)]
        self.mounter.umount(self.mount_point)
        self.assertEqual(['-c', '-f', '-l'],
                         [cmd[-2] for cmd in self.host.commands])
        self.assertEqual({}, self.host.mounts)

    def test_hung_umount_that_detached_the_mount(self):
        # The unmount hung after taking the mount out of the tree: done.
        self._mounted()

        def hang_after_detach(*cmd, **kwargs):
            self.host.commands.append(cmd[4:])
            self.host.mounts.clear()
            raise subprocess.TimeoutExpired(cmd, 18)
        self.mounter._execute = hang_after_detach
        self.mounter.umount(self.mount_point)
        self.assertEqual([('umount', '-c', self.mount_point)],
                         self.host.commands)

    def test_umount_fails(self):
        self._mounted()
        self.host.umount_results = [TIMEOUT_EXIT, TIMEOUT_EXIT, BUSY]
        exc = self.assertRaises(lustre_client.LustreException,
                                self.mounter.umount, self.mount_point)
        self.assertIn(self.mount_point, str(exc))
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)

    # -- locks ---------------------------------------------------------------

    def test_mount_lock_is_this_hosts(self):
        # A mount is this host's: mounting needs no coordination back end
        # (which may be down, or far away).
        coordination.COORDINATOR.get_lock.side_effect = Exception(
            'the coordination back end is down')
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)
        coordination.COORDINATOR.get_lock.assert_not_called()

    def test_mount_waits_for_the_host_lock(self):
        # Another service of this host is mounting the same mount point:
        # this one waits, then finds the share mounted.
        events = []
        name = 'lustre-mount-%s' % os.path.basename(self.mount_point)
        holding = threading.Event()
        release = threading.Event()

        def other_service():
            with lockutils.lock(name, lock_file_prefix='cinder-',
                                external=True):
                holding.set()
                release.wait()
                self._mounted()
                events.append('other mounted')
        other = threading.Thread(target=other_service)
        other.start()
        holding.wait()

        def mount():
            self.mounter.ensure_mounted(SHARE)
            events.append('ensured')
        this = threading.Thread(target=mount)
        this.start()
        release.set()
        other.join()
        this.join()
        self.assertEqual(['other mounted', 'ensured'], events)
        self.assertEqual([], self.host.commands)

    def test_failure_after_the_call_is_raised(self):
        # A failure that ended after this call began (while it waited for
        # the lock) is raised; an older one is not.
        clock = self._fake_clock()
        error = lustre_client.LustreException(msg='mount failed')
        self.mounter._failures[self.mount_point] = (clock.now + 1, error)
        self.assertIs(error, self.assertRaises(
            lustre_client.LustreException, self.mounter.ensure_mounted,
            SHARE))
        clock.now += 2
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual(['mount'], self.host.names())

    def test_waiters_fail_with_a_failure_they_waited_for(self):
        # While one thread tries (and fails) to mount, others wait for the
        # lock: they fail with its error at once, instead of each trying
        # and timing out in turn.
        attempts = []
        waiting = []
        real_lock = lockutils.lock

        def lock(*args, **kwargs):
            waiting.append(args[0])
            return real_lock(*args, **kwargs)
        self.mock_object(lustre_client.lockutils, 'lock', side_effect=lock)

        def slow_failing_mount(*cmd, **kwargs):
            attempts.append(cmd)
            # Fails once this thread's caller waits for the lock too.
            while len(waiting) < 2:
                threading.Event().wait(0.01)
            raise putils.ProcessExecutionError(exit_code=5, stderr='EIO')
        self.mounter._execute = slow_failing_mount
        self.mounter.mount_attempts = 1
        errors = []

        def first():
            try:
                self.mounter.ensure_mounted(SHARE)
            except lustre_client.LustreException as exc:
                errors.append(exc)
        thread = threading.Thread(target=first)
        thread.start()
        while not attempts:
            threading.Event().wait(0.01)
        exc = self.assertRaises(lustre_client.LustreException,
                                self.mounter.ensure_mounted, SHARE)
        thread.join()
        self.assertEqual(1, len(attempts))
        self.assertEqual([exc], errors)
        # A later call tries again.
        self.mounter._execute = self.host.execute
        self.mounter.ensure_mounted(SHARE)
        self.assertEqual({self.mount_point: 'lustre'}, self.host.mounts)


@ddt.ddt
class LfsTimeLimitTestCase(test.TestCase):
    """lfs commands: time limits, and lfs missing."""

    def setUp(self):
        super().setUp()
        self.execute = mock.Mock(return_value=('', ''))
        self.lfs = lustre_client.Lfs(self.execute)

    def test_default_time_limit(self):
        self.lfs.version()
        self.execute.assert_called_once_with(
            'lfs', '--version', timeout=60, on_execute=mock.ANY)

    def test_time_limit(self):
        lustre_client.Lfs(self.execute, timeout=5).version()
        self.assertEqual(5, self.execute.call_args.kwargs['timeout'])

    def test_migrate_has_no_time_limit(self):
        # It copies the whole file: its time grows with the volume.
        self.lfs.migrate('/m/a', lustre_client.Layout(stripe_count=2),
                         run_as_root=True)
        self.execute.assert_called_once_with(
            'lfs', 'migrate', '-c', '2', '--', '/m/a', run_as_root=True)

    def test_timed_out_lfs_is_killed(self):
        process = mock.Mock()

        def hang(*cmd, **kwargs):
            kwargs['on_execute'](process)
            raise subprocess.TimeoutExpired(cmd, kwargs['timeout'])
        self.execute.side_effect = hang
        exc = self.assertRaises(putils.ProcessExecutionError,
                                self.lfs.df, '/mnt/x')
        self.assertIsInstance(exc, lustre_client.CommandTimedOut)
        self.assertIn('did not finish within 60 seconds', str(exc))
        self.assertIn('lfs df --lazy /mnt/x', str(exc))
        process.kill.assert_called_once_with()

    def test_timed_out_root_lfs_cannot_be_killed(self):
        # Run through sudo: the service may not signal it; it stops
        # waiting all the same.
        process = mock.Mock()
        process.kill.side_effect = PermissionError(errno.EPERM, 'EPERM')

        def hang(*cmd, **kwargs):
            kwargs['on_execute'](process)
            raise subprocess.TimeoutExpired(cmd, kwargs['timeout'])
        self.execute.side_effect = hang
        self.assertRaises(lustre_client.CommandTimedOut,
                          self.lfs.create_file, '/mnt/x/f',
                          lustre_client.Layout(stripe_count=2),
                          run_as_root=True)

    @ddt.data(OSError(errno.ENOENT, 'No such file or directory'),
              putils.ProcessExecutionError(
                  exit_code=96, stderr='Executable not found: lfs'))
    def test_lfs_not_installed(self, error):
        # Run directly lfs cannot start; run as root, cinder-rootwrap
        # exits 96. Both drivers see one error.
        self.execute.side_effect = error
        exc = self.assertRaises(lustre_client.LfsNotInstalled,
                                self.lfs.df, '/mnt/x')
        self.assertIsInstance(exc, lustre_client.LustreException)

    def _setstripe_without_lfs(self, *prefix):
        """lfs setstripe run for real, through prefix, with no lfs found."""
        empty = self.useFixture(fixtures.TempDir()).path

        def execute(*cmd, **kwargs):
            kwargs.pop('run_as_root')
            return putils.execute(*prefix, *cmd,
                                  env_variables={'PATH': empty}, **kwargs)
        lfs = lustre_client.Lfs(execute)
        return self.assertRaises(
            lustre_client.LfsNotInstalled, lfs.setstripe,
            os.path.join(empty, 'f'), stripe_count=2, run_as_root=True)

    def test_lfs_not_installed_real_command(self):
        # processutils itself: a command not on the PATH does not start.
        self._setstripe_without_lfs()

    def test_lfs_not_installed_real_rootwrap(self):
        # oslo.rootwrap itself, with the drivers' filters: lfs is allowed
        # but found in none of its exec_dirs.
        tempdir = self.useFixture(fixtures.TempDir()).path
        filters = os.path.join(tempdir, 'rootwrap.d')
        os.mkdir(filters)
        shutil.copy(test_lustre_rootwrap.filters_file(), filters)
        config = os.path.join(tempdir, 'rootwrap.conf')
        with open(config, 'w') as f:
            f.write('[DEFAULT]\nfilters_path=%s\nexec_dirs=%s\n'
                    % (filters, tempdir))
        exc = self._setstripe_without_lfs(
            sys.executable, '-c',
            'import sys; from oslo_rootwrap import cmd; '
            'sys.argv[0] = "cinder-rootwrap"; cmd.main()', config)
        self.assertIn('lfs', str(exc))

    @ddt.data(PermissionError(errno.EACCES, 'Permission denied'),
              OSError(errno.EMFILE, 'Too many open files'),
              putils.ProcessExecutionError(exit_code=22, stderr='EINVAL'))
    def test_other_lfs_errors_raised(self, error):
        self.execute.side_effect = error
        exc = self.assertRaises(type(error), self.lfs.df, '/mnt/x')
        self.assertNotIsInstance(exc, lustre_client.LfsNotInstalled)

    def test_bounded_real_command(self):
        # processutils gives up waiting and the command is killed, also
        # with eventlet's green Popen, which raises its own TimeoutExpired.
        run = lustre_client.bounded(putils.execute, 1)
        exc = self.assertRaises(lustre_client.CommandTimedOut, run,
                                'sleep', '17.25')
        self.assertIn('sleep 17.25', str(exc))
        for _i in range(100):
            if subprocess.run(['pgrep', '-f', '^sleep 17.25$'],
                              capture_output=True).returncode:
                break
            threading.Event().wait(0.05)
        else:
            self.fail('sleep 17.25 is still running')

    def test_bounded_foreign_timeout_class(self):
        # The TimeoutExpired of another copy of the subprocess module.
        foreign = type('TimeoutExpired', (Exception,), {})
        self.execute.side_effect = foreign()
        self.assertRaises(lustre_client.CommandTimedOut,
                          lustre_client.bounded(self.execute, 3), 'lfs')

    def test_bounded_without_limit(self):
        run = lustre_client.bounded(self.execute, None)
        run('stat', '-f', '/')
        self.execute.assert_called_once_with('stat', '-f', '/')
