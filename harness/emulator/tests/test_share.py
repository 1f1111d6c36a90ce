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

"""Share-string and mount-option parsing."""

import errno
import unittest

from lustre_emu import common
from lustre_emu import share


class TestParseShare(unittest.TestCase):
    """MGSNODE[:MGSNODE]:/FSNAME[/SUBDIR]."""

    def test_failover_and_interfaces(self) -> None:
        res = share.parse_share(
            'mgs1@tcp0,mgs1ib@o2ib0:mgs2@tcp0,mgs2ib@o2ib0:/testfs/cinder')
        self.assertEqual('testfs', res.fsname)
        self.assertEqual('cinder', res.subdir)
        self.assertEqual(2, len(res.mgs_nodes))
        self.assertEqual(['mgs1@tcp0', 'mgs1ib@o2ib0', 'mgs2@tcp0',
                          'mgs2ib@o2ib0'], [str(n) for n in res.nids])

    def test_default_net_and_normalisation(self) -> None:
        res = share.parse_share('10.0.0.1:/fs')
        self.assertEqual('10.0.0.1@tcp0', str(res.nids[0]))
        res = share.parse_share('10.0.0.1@tcp:/fs/a/b/')
        self.assertEqual('tcp0', res.nids[0].net)
        self.assertEqual('a/b', res.subdir)
        res = share.parse_share('192.168.1.5@o2ib1:/scratch')
        self.assertEqual('o2ib1', res.nids[0].net)
        self.assertEqual('', res.subdir)

    def test_bad_sources(self) -> None:
        for src in ('testfs', 'mgs@tcp:testfs', ':/testfs', 'mgs@:/fs',
                    'mgs@tcp::/fs', 'mgs@ib:/fs', 'mgs@tcp:/',
                    'mgs@tcp:/waytoolongname', 'mgs@tcp:/fs/../x',
                    'bad host@tcp:/fs', 'mgs@tcp,:/fs', 'a@tcp@tcp:/fs'):
            with self.assertRaises(common.LustreError, msg=src) as ctx:
                share.parse_share(src)
            self.assertEqual(errno.EINVAL, ctx.exception.code, src)


class TestParseOptions(unittest.TestCase):
    """Client options: accepted, flags, unknown ones rejected."""

    def test_known(self) -> None:
        opts = share.parse_options(
            'rw,flock,lazystatfs,user_xattr,noatime,network=o2ib1,'
            'retry=3,_netdev')
        self.assertEqual(3, opts.retry)
        self.assertEqual('o2ib1', opts.network)
        self.assertEqual('flock', opts.flock)
        self.assertEqual(common.MS_NOATIME, opts.flags)

    def test_ro_and_last_flock_wins(self) -> None:
        opts = share.parse_options('ro,localflock,noflock')
        self.assertEqual(common.MS_RDONLY, opts.flags)
        self.assertEqual('noflock', opts.flock)

    def test_unknown_rejected_unless_sloppy(self) -> None:
        for text in ('bogus', 'retry=x', 'network=eth0', 'flock=1',
                     'noatime=yes'):
            with self.assertRaises(common.LustreError, msg=text) as ctx:
                share.parse_options(text)
            self.assertEqual(errno.EINVAL, ctx.exception.code)
        self.assertEqual(['bogus'], share.parse_options('bogus',
                                                        True).given)


if __name__ == '__main__':
    unittest.main()
