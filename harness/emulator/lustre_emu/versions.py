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

"""What each Lustre version's ``lfs`` and ``mount.lustre`` do differently.

A ``Profile`` is built from a version string; every behaviour that the
emulator prints or decides differently between versions is one of its
attributes, with the lustre-release tag and file where it was read.  The
thresholds are the first tag of lustre-release that has the behaviour
(development tags included: ``2.14.53`` means "seen in v2_14_53, not in
the tag before that was read"), so released versions fall on the right
side of them.  The named profiles are the releases the harness tests:

    2.12 -> 2.12.9   2.14 -> 2.14.0   2.15 -> 2.15.4
    2.16 -> 2.16.1   2.17 -> 2.17.0

Versions before 2.12 are not emulated (``filesystem summary:`` of 2.9,
no PFL before 2.10, no ``lfs project`` before 2.11).
"""

import re
import typing

PROFILES = {
    '2.12': '2.12.9',
    '2.14': '2.14.0',
    '2.15': '2.15.4',
    '2.16': '2.16.1',
    '2.17': '2.17.0',
}
OLDEST = '2.12'
NEWEST = '2.17'
Version = typing.Tuple[int, int, int]


def parse(text: str) -> Version:
    """``2.15.4`` -> (2, 15, 4); ``2.17`` -> the 2.17 profile's release."""
    text = PROFILES.get(text.strip(), text.strip())
    nums = [int(p) for p in re.findall(r'\d+', text)[:3]]
    if len(nums) < 2 or nums[0] != 2:
        raise ValueError('not a Lustre 2.x version: %r' % text)
    while len(nums) < 3:
        nums.append(0)
    ver = (nums[0], nums[1], nums[2])
    if ver < (2, 12, 0):
        raise ValueError('Lustre %s is older than the oldest emulated '
                         'version (2.12)' % text)
    return ver


def canonical(text: str) -> str:
    """The version string to store: a profile name becomes its release."""
    return '%d.%d.%d' % parse(text)


class Profile:
    """The version-dependent behaviour of one Lustre client (and servers).

    The emulated servers are taken to run the client's version.
    """

    def __init__(self, text: str) -> None:
        self.text = canonical(text)
        v = self.version = parse(text)

        # -- lfs df -----------------------------------------------------
        # v2_17_0 lustre/utils/lfs.c showdf()/print_field_value(): every
        # field is printed as "%11llu " (cooked "%8.1f%c ", not padded to
        # 11) and the mount point as " %s", so two blanks precede it.
        # v2_12_9 .. v2_16_1 lfs.c showdf(): one printf
        # "%-20s %11s %11s %11s %4s %s" (cooked values right-aligned in 11).
        # First seen in v2_16_59.
        self.df_field_format = v >= (2, 16, 59)
        # v2_15_4 lfs.c lfs_df(): "-H/--si" (base 1000); absent in v2_14_0.
        self.df_si = v >= (2, 14, 53)
        # v2_15_4 lfs.c lfs_df(): every path argument is checked; a path
        # that is not on Lustre prints "df:PATH Not a Lustre filesystem"
        # and lfs exits EOPNOTSUPP (95).  v2_12_9/v2_14_0 lfs_df() look at
        # the first path only and print nothing, exit 0, for a path on
        # another file system.  First seen in v2_14_56.
        self.df_all_paths = v >= (2, 14, 56)

        # -- layouts ----------------------------------------------------
        # lustre/include/uapi/linux/lustre/lustre_idl.h
        # LOV_DESC_STRIPE_SIZE_DEFAULT: 1 << LNET_MTU_BITS (1 MiB) in
        # v2_12_9 .. v2_15_4, 4 << LNET_MTU_BITS (4 MiB) in v2_16_1 and
        # v2_17_0 (first seen in v2_15_60).
        self.default_stripe_size = (4 if v >= (2, 15, 60) else 1) << 20
        # Pool checks of a plain (non-PFL) setstripe/migrate:
        # 'exists': v2_12_9/v2_14_0 liblustreapi.c llapi_file_open_param()
        #           "pool '%s.%s' does not exist" (llapi_err_noerrno), -EINVAL;
        # 'none':   v2_15_4 liblustreapi.c llapi_stripe_param_verify() only
        #           checks the name: an unknown pool is stored silently and
        #           objects go to any OST (check gone in v2_15_0);
        # 'fsname': v2_16_1/v2_17_0 llapi_stripe_param_verify() "pool '%s
        #           fsname %s' does not exist" (llapi_error, so ": strerror
        #           (errno)" follows), -EINVAL (first seen in v2_15_60).
        if v >= (2, 15, 60):
            self.plain_pool_check = 'fsname'
        elif v >= (2, 14, 57):
            self.plain_pool_check = 'none'
        else:
            self.plain_pool_check = 'exists'
        # PFL: v2_16_1/v2_17_0 liblustreapi_layout.c verify_pool_name() in
        # llapi_layout_sanity_cb() refuses an unknown pool of the layout's
        # current (last) component: "Invalid layout, unrecognized error:
        # -1", then lfs.c lfs_component_create() "cannot create composite
        # file".  Up to v2_15_4 nothing checks a PFL component's pool.
        self.pfl_pool_check = v >= (2, 15, 60)
        # v2_15_4 lfs.c lfs_setstripe_internal(): "-S"/"-E" values below
        # 4096 are KiB ("assume units of KB if too small"), and "-c" above
        # LOV_MAX_STRIPE_COUNT (2000) is an "invalid stripe count" usage
        # error.  v2_12_9/v2_14_0: -S 1024 is 1024 bytes (refused: not a
        # multiple of 64 KiB), -c 2001 fails later in
        # llapi_stripe_limit_check() "error: bad stripe count 2001".
        # First seen in v2_14_53.
        self.kib_rule = v >= (2, 14, 53)
        self.count_checked_at_parse = v >= (2, 14, 53)
        # Layout sanity errors: v2_15_4/v2_16_1 liblustreapi_layout.c
        # llapi_layout_sanity_perror() prints "Invalid layout: %s" on
        # stdout without a prefix; v2_17_0 uses llapi_err_noerrno()
        # (stderr, "lfs setstripe: " first).  And v2_12_9/v2_14_0 have no
        # client check: the MDS refuses a misaligned component end
        # (lustre/lod/lod_lov.c lod_verify_striping(), EINVAL).
        self.layout_sanity = v >= (2, 14, 53)
        self.layout_errors_stderr = v >= (2, 16, 59)
        # lfs's usage text after a CMD_HELP return: libcfs parser.c prints
        # it on stderr (v2_12_9 Parser_execarg) or stdout (v2_17_0
        # cfs_parser_execarg).
        self.help_on_stdout = v >= (2, 16, 59)
        # v2_17_0 liblustreapi.c llapi_parse_size(): "Mi"/"MB"-style
        # two-letter suffixes and 'c' (bytes); v2_12_9: one letter only.
        self.size_long_suffix = v >= (2, 16, 59)
        # v2_16_1 liblustreapi.c lov_dump_user_lmm_v1v3(): composite objects
        # as "%3d: { l_ost_idx: %3d, ..."; v2_15_4 "%d: { l_ost_idx: %d".
        # First seen in v2_15_60.
        self.objects_padded = v >= (2, 15, 60)
        # v2_16_1 liblustreapi.c lov_dump_comp_v1_header(): YAML puts a
        # "components:" list; v2_15_4 prints "  component%d:" per entry.
        self.yaml_components_list = v >= (2, 15, 60)
        # v2_17_0 liblustreapi.c lov_dump_user_lmm_header(): a DoM
        # component's offset is labelled "mdt_index:"; v2_16_1
        # "stripe_offset:" (first seen in v2_16_58).
        self.dom_mdt_index_label = v >= (2, 16, 58)

        # -- lfs migrate ------------------------------------------------
        # v2_15_4 lfs.c migrate_copy_data(): llapi_data_seek() copies only
        # the data of a sparse file; v2_12_9/v2_14_0 read and write every
        # byte, so holes become allocated zeros (LU-13397, first seen in
        # v2_14_53).
        self.migrate_keeps_holes = v >= (2, 14, 53)

        # -- lfs quota / setquota ----------------------------------------
        # v2_17_0 lfs.c lfs_quota(): the title names the project from
        # /etc/projid (prjid2name()) or "<unknown>"; v2_16_1 prints the
        # argument as given ("Disk quotas for prj 1002 (pid 1002):").
        # First seen in v2_16_58.
        self.quota_title_projname = v >= (2, 16, 58)
        # Header and row layout of lfs quota:
        # 'v212': v2_12_9..v2_15_4 print_quota_title() "%15s%8s %7s%8s%8s%8s
        #         %7s%8s%8s" (quota/limit/grace), print_quota() puts a mount
        #         point longer than 15 on its own line;
        # 'v216': v2_16_1 "%16s %7s ..." and "%16s" for the mount point;
        # 'fields': v2_17_0 print_quota_val() "%*s " per column (bquota,
        #         blimit, bgrace, iquota, ilimit, igrace), a trailing blank,
        #         "*" glued to an exceeded value (first seen in v2_16_52).
        if v >= (2, 16, 52):
            self.quota_layout = 'fields'
        elif v >= (2, 15, 60):
            self.quota_layout = 'v216'
        else:
            self.quota_layout = 'v212'
        # v2_17_0 lfs.c print_quota(): the inode usage column is starred
        # by the *block* verdict (print_quota_val(numbuf[0], 8, bover)), as
        # the transcript of 2.17.0 shows ("2*" with no inode limit).
        self.quota_inode_star_from_blocks = self.quota_layout == 'fields'
        # v2_12_9..v2_15_4 lfs.c get_print_quota(): "pid N is using default
        # block quota setting" (and "file") after the table; gone in
        # v2_16_1 print_one_quota().
        self.quota_default_lines = v < (2, 15, 60)
        # v2_12_9..v2_16_1 lfs.c: id 0's limits are shown as 0 (the
        # default quota is stored as id 0's); v2_17_0 print_one_quota()
        # no longer clears them (first seen in v2_16_52 with the rework).
        self.quota_hides_root_limits = v < (2, 16, 52)
        # v2_12_9..v2_15_4 get_print_quota() prints the title after a
        # successful quotactl (nothing on stdout when quotas are off);
        # v2_16_1/v2_17_0 lfs_quota() prints it before do_quota_op().
        self.quota_title_before_query = v >= (2, 15, 60)
        # lfs setquota failing to read the current limits: v2_12_9 and
        # v2_14_0 return the errno silently, v2_15_4+ print
        # "setquota failed: %s".
        self.setquota_reports_failure = v >= (2, 14, 57)

        # -- mount.lustre -------------------------------------------------
        # v2_17_0 lustre/utils/mount_utils.c convert_hostnames() splits
        # NIDs with cfs_nidstr_find_delimiter(): IPv6 NIDs such as
        # "2001:db8::1@tcp" (first seen in v2_16_51).  Older versions split
        # the source at every ':'.
        self.ipv6_nids = v >= (2, 16, 51)
        # v2_14_0+ mount_lustre.c: the ENODEV hint's second line starts
        # with a blank (" Check /etc/modprobe.conf ..."); v2_12_9 does not.
        self.enodev_hint_blank = v >= (2, 13, 0)
        # An MGS that does not answer: the 2.17.0 transcript shows
        # ETIMEDOUT (110, no hint); field reports of 2.12-2.15 clients show
        # EIO with "Is the MGS running?".  Not read from a source file.
        self.mgs_unreachable_errno = 110 if v >= (2, 17, 0) else 5
        # Client mount options (llite ll_options()/ll_sbi_flags_name and
        # obdclass lmd_parse()): "encrypt"/"noencrypt" from v2_15_4 (client
        # encryption), "test_dummy_encryption" from v2_14_0,
        # "statfs_project" shown in /proc/mounts by 2.16+ (v2_16_1
        # llite_lib.c), "foreign_symlink=" from v2_15_4.
        self.client_options = set(BASE_CLIENT_OPTIONS)
        if v >= (2, 14, 0):
            self.client_options |= {'test_dummy_encryption'}
        if v >= (2, 15, 0):
            self.client_options |= {'encrypt', 'noencrypt'}
            self.valued_options = set(BASE_VALUED_OPTIONS) | {
                'foreign_symlink', 'test_dummy_encryption'}
        else:
            self.valued_options = set(BASE_VALUED_OPTIONS)
        if v >= (2, 15, 60):
            self.client_options |= {'statfs_project', 'nostatfs_project'}

    def at_least(self, *version: int) -> bool:
        """Whether this profile's version is at least ``version``."""
        return self.version >= tuple(version)

    def proc_mount_options(self, flock: str, given: typing.List[str]) -> str:
        """The option field a client mount shows in /proc/mounts.

        What the 2.17.0 transcript shows for a mount with default options
        (``rw,checksum,encrypt,flock,lazystatfs,lruresize,nolock,
        statfs_project,nouser_fid2path,nouser_xattr,verbose``): llite's
        ll_sbi_flags_name order, as shown by ll_show_options().  Older
        profiles leave out what they do not have.
        """
        opts = ['ro' if 'ro' in given else 'rw', 'checksum']
        if 'encrypt' in self.client_options and 'noencrypt' not in given:
            opts.append('encrypt')
        if flock != 'noflock':
            opts.append(flock)
        opts += ['lazystatfs' if 'nolazystatfs' not in given
                 else 'nolazystatfs', 'lruresize', 'nolock']
        if 'statfs_project' in self.client_options:
            opts.append('statfs_project')
        opts.append('user_fid2path' if 'user_fid2path' in given
                    else 'nouser_fid2path')
        opts.append('user_xattr' if 'user_xattr' in given
                    else 'nouser_xattr')
        if 'noverbose' not in given:
            opts.append('verbose')
        return ','.join(opts)


# v2_12_9 lustre/llite/llite_lib.c ll_options() and lustre/obdclass
# obd_mount.c lmd_parse(): the client options every emulated version takes.
BASE_CLIENT_OPTIONS = frozenset({
    'flock', 'localflock', 'noflock', 'lazystatfs', 'nolazystatfs',
    'user_xattr', 'nouser_xattr', 'user_fid2path', 'nouser_fid2path',
    'acl', 'noacl', 'checksum', 'nochecksum', 'verbose', 'noverbose',
    'always_ping', '32bitapi', 'lruresize', 'nolruresize', 'nolock',
})
BASE_VALUED_OPTIONS = frozenset({
    'network', 'retry', 'exclude', 'mgssec', 'skpath', 'max_sectors_kb',
    'mgsname',
})


_CACHE: typing.Dict[str, Profile] = {}


def profile(text: str) -> Profile:
    """The (cached) profile of a version string."""
    key = canonical(text)
    if key not in _CACHE:
        _CACHE[key] = Profile(key)
    return _CACHE[key]
