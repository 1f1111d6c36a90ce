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
import hashlib
import os
from unittest import mock

import ddt
import fixtures
from os_brick import exception as brick_exception
from os_brick.remotefs import remotefs as remotefs_brick
from oslo_concurrency import processutils as putils
from oslo_utils import units

from cinder import exception
from cinder.tests.unit import test
from cinder.volume.drivers import lustre_client

SHARE = '192.168.1.10@tcp:/testfs'
SHARE2 = '192.168.1.11@o2ib,192.168.1.12@o2ib:192.168.1.13@o2ib:/lfs2/cinder'
POOL = 'testfs'
POOL2 = 'lfs2/cinder'

# A mount point as the drivers make them: longer than 15 characters, which
# lfs quota up to 2.15 prints on a line of its own.
MNT = '/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3'

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
QUOTA_2_17_OVER = """\
Disk quotas for prj <unknown> (pid 1002):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace 
    /mnt/lustre 153609*       0  102400       -      2*       0       0       - 
"""  # noqa: W291
# Real 2.17.0: an unused project id.
QUOTA_2_17_FREE = """\
Disk quotas for prj <unknown> (pid 99999):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace 
    /mnt/lustre       0       0       0       -       0       0       0       - 
"""  # noqa: W291
# v2_17_0 lustre/utils/lfs.c print_quota_title()/print_quota_val(): the
# title names the project as /etc/projid does; an id without limits of
# its own shows the default project quota (10G here) as its limits,
# unmarked since LU-15277 (2.15.63).
QUOTA_2_17_DEFAULT = """\
Disk quotas for prj vol-alloc (pid 16777300):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace 
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3       0       0 10485760       -       0       0       0       - 
"""  # noqa: W291,E501
# v2_17_0 lustre/utils/lfs.c print_quota()/print_one_quota(): values not
# every target answered for are in brackets, a "%d Some errors..." line
# follows and lfs exits with EIO.
QUOTA_2_17_INACCURATE = """\
Disk quotas for prj <unknown> (pid 16777302):
     Filesystem  kbytes  bquota  blimit  bgrace   files  iquota  ilimit  igrace 
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3     [0]       0       0       -     [0]       0       0       - 
1 Some errors happened when getting quota info. Some devices may be not working or deactivated. The data in "[]" is inaccurate.
"""  # noqa: W291,E501
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
QUOTA_DEFAULTS_2_17 = """\
Disk default prj quota:
     Filesystem  bquota  blimit  bgrace  iquota  ilimit  igrace 
/var/lib/cinder/mnt/5b4bb8b2d0ab4d1c5e5ce2e8a0d1a5f3       0 10485760  604800       0       0  604800 
"""  # noqa: W291,E501

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
                                'host:/fs')
        self.assertIn('host:/fs', str(exc))

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

    def test_read_mount_points(self):
        path = os.path.join(self.tempdir, 'mounts')
        with open(path, 'w') as f:
            f.write('proc /proc proc rw 0 0\n'
                    '10.0.0.1@tcp:/fs /mnt/abc lustre rw,flock 0 0\n'
                    '10.0.0.1@tcp:/fs2 /mnt/with\\040space lustre rw 0 0\n'
                    'short\n\n')
        self.assertEqual({'/proc': 'proc', '/mnt/abc': 'lustre',
                          '/mnt/with space': 'lustre'},
                         lustre_client.read_mount_points(path))

    def test_mounter_is_mounted(self):
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value={'/mnt/a': 'lustre'})
        self.assertTrue(lustre_client.LustreMounter.is_mounted('/mnt/a'))
        self.assertFalse(lustre_client.LustreMounter.is_mounted('/mnt/b'))

    def test_mounter_is_stale(self):
        self.assertFalse(lustre_client.LustreMounter.is_stale(self.tempdir))

    def test_mounter_healthy_mount_takes_no_lock(self):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 1)
        mount_point = mounter.get_mount_point(SHARE)
        os.makedirs(mount_point)
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value={mount_point: 'lustre'})
        mock_locked = self.mock_object(mounter, '_mount_locked')

        self.assertEqual(mount_point, mounter.ensure_mounted(SHARE))

        mock_locked.assert_not_called()
        self.execute.assert_not_called()

    @ddt.data(({}, False), ({'mp': 'lustre'}, True))
    @ddt.unpack
    def test_mounter_unmounted_or_stale_mount_is_locked(self, mounts, stale):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 1)
        mount_point = mounter.get_mount_point(SHARE)
        mounts = {mount_point: fs for fs in mounts.values()}
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value=mounts)
        self.mock_object(mounter, 'is_stale', return_value=stale)
        mock_locked = self.mock_object(mounter, '_mount_locked')

        mounter.ensure_mounted(SHARE, '-o x')

        mock_locked.assert_called_once_with(SHARE, mount_point, '-o x')

    def test_mounter_mounted_while_waiting_for_the_lock(self):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 1)
        mount_point = mounter.get_mount_point(SHARE)
        os.makedirs(mount_point)
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value={mount_point: 'lustre'})
        mounter._mount_locked(SHARE, mount_point, None)
        self.execute.assert_not_called()

    def test_mounter_at_least_one_attempt(self):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 0)
        self.assertEqual(1, mounter.mount_attempts)
        self.assertEqual(os.path.realpath(self.tempdir),
                         mounter.mount_point_base)

    @staticmethod
    def _shares(*addresses):
        return [lustre_client.LustreShare.parse(a) for a in addresses]

    def test_make_pools_without_ost_pools(self):
        self.assertEqual(
            {POOL: lustre_client.LustrePool(POOL, SHARE),
             POOL2: lustre_client.LustrePool(POOL2, SHARE2)},
            lustre_client.make_pools(self._shares(SHARE, SHARE2), []))
        self.assertEqual({}, lustre_client.make_pools([], []))

    def test_make_pools(self):
        pools = lustre_client.make_pools(
            self._shares(SHARE, SHARE2),
            ['testfs.ssd', 'lfs2.flash', 'testfs.hdd_2'])
        self.assertEqual(
            [lustre_client.LustrePool('testfs.ssd', SHARE, 'ssd'),
             lustre_client.LustrePool('testfs.hdd_2', SHARE, 'hdd_2'),
             lustre_client.LustrePool('lfs2/cinder.flash', SHARE2, 'flash')],
            list(pools.values()))
        self.assertEqual(list(pools), [p.name for p in pools.values()])

    def test_make_pools_several_shares_on_one_fs(self):
        shares = self._shares('10.0.0.1@tcp:/testfs/a',
                              '10.0.0.1@tcp:/testfs/b',
                              '10.0.0.2@tcp:/other')
        pools = lustre_client.make_pools(shares, ['testfs.ssd', 'testfs.hdd'])
        self.assertEqual(
            {'testfs/a.ssd': lustre_client.LustrePool(
                'testfs/a.ssd', '10.0.0.1@tcp:/testfs/a', 'ssd'),
             'testfs/a.hdd': lustre_client.LustrePool(
                 'testfs/a.hdd', '10.0.0.1@tcp:/testfs/a', 'hdd'),
             'testfs/b.ssd': lustre_client.LustrePool(
                 'testfs/b.ssd', '10.0.0.1@tcp:/testfs/b', 'ssd'),
             'testfs/b.hdd': lustre_client.LustrePool(
                 'testfs/b.hdd', '10.0.0.1@tcp:/testfs/b', 'hdd'),
             'other': lustre_client.LustrePool(
                 'other', '10.0.0.2@tcp:/other')},
            pools)

    @ddt.data('testfs',               # no pool
              'testfs.',              # empty pool
              '.ssd',                 # no fsname
              'ninechars.ssd',        # fsname > 8 characters
              'testfs.' + 'p' * 16,   # pool > 15 characters
              'testfs.ss d',          # blank
              'testfs.a.b',           # dot in the pool
              'test;fs.ssd',          # metacharacter
              'testfs.ssd;reboot')    # metacharacter
    def test_make_pools_invalid(self, entry):
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                lustre_client.make_pools,
                                self._shares(SHARE), ['testfs.ok', entry])
        self.assertIn('lustre_ost_pools', str(exc))

    def test_unused_ost_pools(self):
        self.assertEqual(
            ['other.a', 'zfs.b'],
            lustre_client.unused_ost_pools(
                self._shares(SHARE), ['zfs.b', 'testfs.ssd', 'other.a']))
        self.assertEqual([], lustre_client.unused_ost_pools(
            self._shares(SHARE), ['testfs.ssd']))

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

    @ddt.data(
        ({}, [], False),
        ({'provisioning:type': 'thin', 'capabilities:x': 'y'}, [], False),
        ({'lustre:stripe_count': '4'}, ['-c', '4'], True),
        ({'lustre:stripe_size': '1M'}, ['-S', '1024K'], True),
        ({'lustre:ost_pool': 'ssd'}, ['-p', 'ssd'], True),
        ({'lustre:stripe_count': ' 2 ', 'lustre:stripe_size': '64K',
          'lustre:ost_pool': 'a'}, ['-c', '2', '-S', '64K', '-p', 'a'], True),
        ({'lustre:layout': '1M:1:64K,-1:-1'},
         ['-E', '1024K', '-c', '1', '-S', '64K', '-E', '-1', '-c', '-1'],
         True),
    )
    @ddt.unpack
    def test_layout_from_extra_specs(self, specs, args, truth):
        layout = lustre_client.Layout.from_extra_specs(specs)
        self.assertEqual(args, layout.setstripe_args())
        self.assertEqual(truth, bool(layout))

    @ddt.data({'lustre:stripe_count': 'x'},
              {'lustre:unknown': '1'},
              {'lustre:layout': '-1:1', 'lustre:stripe_size': '1M'})
    def test_layout_from_extra_specs_invalid(self, specs):
        exc = self.assertRaises(exception.InvalidVolumeType,
                                lustre_client.Layout.from_extra_specs, specs)
        self.assertIn('lustre:', str(exc))


class LfsTestBase(test.TestCase):
    """An Lfs whose commands are recorded; answers are set per test."""

    def setUp(self):
        super().setUp()
        self.execute = mock.Mock(return_value=('', ''))
        self.lfs = lustre_client.Lfs(self.execute)

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
        self.lfs.set_project(['/m/a', '/m/a.info'], 9)
        self.lfs.setquota('/m', 9, 2048)
        self.assertEqual([
            mock.call('lfs', 'project', '-p', '9', '--', '/m/a', '/m/a.info',
                      run_as_root=True),
            mock.call('lfs', 'setquota', '-p', '9', '-B', '2048K', '/m',
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
class LustreSpecsTestCase(test.TestCase):
    """lustre: extra specs refused where lfs would refuse them."""

    @ddt.data('2000', '-1')
    def test_stripe_count_limit(self, text):
        self.assertEqual(int(text), lustre_client.parse_stripe_count(text))

    @ddt.data('2001', '65535')
    def test_stripe_count_over_limit(self, text):
        # LOV_MAX_STRIPE_COUNT is 2000 (lustre_user.h, v2_12_9 to v2_17_0).
        exc = self.assertRaises(ValueError, lustre_client.parse_stripe_count,
                                text)
        self.assertIn('2000', str(exc))

    @ddt.data('1M:1:4M,-1:1',         # end not a multiple of its size
              '6M:1:4M,-1:1',
              '512K:1,-1:1',          # nor of 1M without one (2.12 servers)
              '1M:1,3M:2:2M,-1:1',
              '1G:2001,-1:1',         # count over 2000
              '1G:1,-1:2001')
    def test_layout_refused(self, text):
        # liblustreapi_layout.c llapi_layout_sanity_cb() (v2_14_0 to
        # v2_17_0, LSE_ALIGN_END) and lod_lov.c lod_verify_striping()
        # (v2_12_9, against the default stripe size) refuse such ends.
        self.assertRaises(exception.InvalidVolumeType,
                          lustre_client.Layout.from_extra_specs,
                          {'lustre:layout': text})

    @ddt.data(('4M:1:4M,-1:1', 2), ('512K:1:64K,-1:1', 2),
              ('1M:1,-1:2000', 2), ('64M:1,1G:4:4M,-1:-1', 3))
    @ddt.unpack
    def test_layout_accepted(self, text, count):
        layout = lustre_client.Layout.from_extra_specs(
            {'lustre:layout': text})
        self.assertEqual(count, len(layout.components))

    def test_spec_properties_cover_the_specs(self):
        self.assertEqual(list(lustre_client._LAYOUT_SPECS),
                         [key for key, *_rest in
                          lustre_client.SPEC_PROPERTIES])
        count = lustre_client.SPEC_PROPERTIES[0]
        self.assertEqual(('integer', {'minimum': -1, 'maximum': 2000}),
                         count[3:])


class BackendCapacityTestCase(test.TestCase):
    """A back end's totals count each OST of a file system once."""

    @staticmethod
    def _share(address):
        return lustre_client.LustreShare.parse(address)

    def test_subdirectory_shares_of_one_file_system(self):
        df = lustre_client.parse_lfs_df(DF_2_17)
        reports = [(self._share('10.0.2.15@tcp:/lustre/a'), df),
                   (self._share('10.0.2.15@tcp0:/lustre/b'), df)]
        self.assertEqual((5462016 * units.Ki, 5386240 * units.Ki),
                         lustre_client.backend_capacity(reports))

    def test_overlapping_ost_pools(self):
        share = self._share('10.0.2.15@tcp:/lustre')
        everything = lustre_client.parse_lfs_df(DF_2_17)
        fast = lustre_client.parse_lfs_df(DF_2_17_POOL)
        empty = lustre_client.parse_lfs_df(DF_2_17_NO_POOL)
        self.assertEqual(
            (5462016 * units.Ki, 5386240 * units.Ki),
            lustre_client.backend_capacity(
                [(share, fast), (share, everything), (share, empty)]))

    def test_file_systems_of_one_name_counted_apart(self):
        df = lustre_client.parse_lfs_df(DF_2_17)
        reports = [(self._share('10.0.2.15@tcp:/lustre'), df),
                   (self._share('10.0.3.15@tcp:/lustre'), df),
                   (self._share('10.0.2.15@tcp:/other'), df)]
        self.assertEqual((3 * 5462016 * units.Ki, 3 * 5386240 * units.Ki),
                         lustre_client.backend_capacity(reports))

    def test_failover_nids_join(self):
        df = lustre_client.parse_lfs_df(DF_2_17_POOL)
        reports = [(self._share('10.0.2.15@tcp:10.0.2.16@tcp:/lustre/a'), df),
                   (self._share('10.0.2.16@tcp:/lustre/b'), df)]
        self.assertEqual((2731008 * units.Ki, 2693120 * units.Ki),
                         lustre_client.backend_capacity(reports))

    def test_reports_without_ost_rows(self):
        # df(1) figures (no lfs): each stands for its whole file system.
        small = lustre_client.LfsDf(10, 6)
        large = lustre_client.LfsDf(20, 16)
        reports = [(self._share('10.0.2.15@tcp:/lustre/a'), small),
                   (self._share('10.0.2.15@tcp:/lustre/b'), large),
                   (self._share('10.0.9.9@o2ib:/scratch'), small)]
        self.assertEqual((30, 22), lustre_client.backend_capacity(reports))
        self.assertEqual((0, 0), lustre_client.backend_capacity([]))
