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

"""Ratios of the bench samples: results.md, results.json, results.png.

Every ratio is "how many times faster Lustre is" (> 1: Lustre wins) unless
its row says otherwise; the figure is the ratio of the medians, with the
worst and best pairing of runs as min and max.
"""

import json
import os
import statistics


def stat(samples):
    return {'median': statistics.median(samples), 'min': min(samples),
            'max': max(samples), 'runs': len(samples)}


def speedup(slow, fast):
    """slow/fast as median, min (worst pairing) and max (best pairing)."""
    return {'median': statistics.median(slow) / statistics.median(fast),
            'min': min(slow) / max(fast), 'max': max(slow) / min(fast)}


def _ratio(ops, label, other, slow, fast, goal, check):
    if slow not in ops or fast not in ops:
        return None
    value = speedup(ops[slow]['samples'], ops[fast]['samples'])
    return {'operation': label, 'compared_with': other, 'ratio': value,
            'goal': goal, 'met': check(value['median'])}


def _stats_rows(ops):
    counts = sorted(int(k.rsplit('.', 1)[1]) for k in ops
                    if k.startswith('stats.lustre.'))
    if not counts:
        return []
    low, high = counts[0], counts[-1]
    return [
        _ratio(ops, 'stats refresh, %d volumes' % high, 'NFS driver (du)',
               'stats.nfs.%d' % high, 'stats.lustre.%d' % high,
               '>= 20x', lambda r: r >= 20),
        _ratio(ops, 'stats refresh, %d vs %d volumes' % (high, low),
               'itself at %d (flat: ratio ~1)' % low,
               'stats.lustre.%d' % high, 'stats.lustre.%d' % low,
               'time(%d)/time(%d) <= 1.5' % (high, low),
               lambda r: r <= 1.5),
    ]


def _copy_rows(ops):
    rows = []
    for op, label in (('clone', 'clone'),
                      ('from_snapshot', 'volume from snapshot')):
        rows.append(_ratio(ops, label, 'NFS driver', '%s.nfs' % op,
                           '%s.lustre' % op, 'report', lambda r: None))
        rows.append(_ratio(ops, label, 'cp --sparse=always', 'clone.cp',
                           '%s.lustre' % op, '>= 0.9', lambda r: r >= 0.9))
    return rows


def _backup_rows(ops):
    rows = []
    for op in ('backup', 'restore'):
        for algo in ('none', 'zstd'):
            key = '%s.lustre.%s' % (op, algo)
            label = '%s, compression %s' % (op, algo)
            rows.append(_ratio(ops, label, 'NFS backup driver',
                               '%s.nfs.%s' % (op, algo), key, 'report',
                               lambda r: None))
            rows.append(_ratio(ops, label, 'dd of the same bytes',
                               '%s.dd' % op, key, '>= 0.8',
                               lambda r: r >= 0.8))
    return rows


def _ceiling_rows(ops):
    """The best ratio to dd upstream's chunked driver allows.

    A backup hashes every byte (MD5 and SHA-256) and a restore onto a
    new volume zero-checks every MiB before it writes: that CPU time
    alone, per GiB, against dd's time per GiB, bounds the backup and
    restore rows from above whatever the Lustre driver does.
    """
    if 'backup_cpu.md5' not in ops or 'backup.dd' not in ops:
        return []
    gib = ops['backup_cpu.md5']['bytes'] / 1024.0 ** 3
    size = ops['backup.dd']['size_gib']

    def per_gib(key, scale):
        return [x / scale for x in ops[key]['samples']]
    hashing = [a + b for a, b in zip(per_gib('backup_cpu.md5', gib),
                                     per_gib('backup_cpu.sha256', gib))]
    rows = []
    checks = [('backup', hashing, 'MD5 + SHA-256'),
              ('restore', per_gib('backup_cpu.zero_check', gib),
               'is_all_zero')]
    if 'backup_cpu.zero_check_bytes' in ops:
        checks.append(('restore', per_gib('backup_cpu.zero_check_bytes',
                                          gib),
                       'is_all_zero on bytes (the fix)'))
    for op, cpu, what in checks:
        value = speedup(per_gib('%s.dd' % op, size), cpu)
        rows.append({'operation': '%s ceiling: upstream %s alone, per GiB'
                                  % (op, what),
                     'compared_with': 'dd of the same bytes', 'ratio': value,
                     'goal': 'report', 'met': None})
    return rows


def _incremental_rows(ops):
    if 'incremental.incr' not in ops:
        return []
    full, incr = ops['incremental.full'], ops['incremental.incr']
    fraction = incr['changed_mib'] / (full['size_gib'] * 1024.0)
    # A full backup stores the data of the volume, not its holes.
    stored_fraction = incr['changed_mib'] / float(full.get(
        'written_mib', full['size_gib'] * 1024))
    stored = speedup(incr['stored_bytes'], full['stored_bytes'])
    label = 'incremental backup after %d%% change (time, incr/full)' % (
        round(fraction * 100))
    rows = [_ratio(ops, label, 'full backup', 'incremental.incr',
                   'incremental.full', '<= 0.2', lambda r: r <= 0.2),
            _ratio(ops, label + ', NFS backup driver', 'its full backup',
                   'incremental.nfs.incr', 'incremental.nfs.full', 'report',
                   lambda r: None)]
    rows.append({'operation': 'incremental backup (bytes stored, '
                              'incr/full)',
                 'compared_with': 'full backup', 'ratio': stored,
                 'goal': '~%.2f (changed/written)' % stored_fraction,
                 'met': stored['median'] <= 2 * stored_fraction})
    return rows


def _snapshot_incremental_rows(ops, prefix='incremental_snap',
                               volume=''):
    """Incremental backups from snapshots (issue 21), both drivers.

    The backup driver alone on the snapshot's copy (the goal), then with
    the copy that the volume driver makes for every backup of a snapshot.
    """
    if prefix + '.lustre.incr' not in ops:
        return []
    incr = ops[prefix + '.lustre.incr']
    label = ('incremental backup from snapshots after %d%% change%s '
             '(time, incr/full)' % (round(
                 incr['changed_mib'] * 100 / (incr['size_gib'] * 1024.0)),
                 volume))
    rows = []
    for suffix, what, goal, check in (
            ('', '', '<= 0.2', lambda r: r <= 0.2),
            ('_total', ', with the copy of the snapshot', 'report',
             lambda r: None)):
        for name, other, driver in (
                ('lustre', 'full backup', ''),
                ('nfs', 'its full backup', ', NFS backup driver')):
            rows.append(_ratio(
                ops, label + what + driver, other,
                '%s.%s.incr%s' % (prefix, name, suffix),
                '%s.%s.full%s' % (prefix, name, suffix),
                goal if name == 'lustre' else 'report',
                check if name == 'lustre' else (lambda r: None)))
    return rows


def _sparse_rows(ops):
    """Issue 21: backups and restores at the speed of the disk.

    Each Lustre row has the NFS backup driver's figure on the same volume
    against the same baseline beside it (goal 'report').
    """
    if 'backup.dd_written' not in ops:
        return []
    small = ops['backup.lustre.none']
    written = '%d GiB with %d MiB written' % (small['size_gib'],
                                              small['written_mib'])
    rows = []

    def pair(label, other, slow, fast, goal, check):
        """The Lustre row, then the NFS one (keys with 'lustre')."""
        rows.append(_ratio(ops, label, other, slow, fast, goal, check))
        rows.append(_ratio(ops, label + ', NFS backup driver', other,
                           slow.replace('lustre', 'nfs'),
                           fast.replace('lustre', 'nfs'), 'report',
                           lambda r: None))

    pair('backup, %s, no compression (time, driver/dd)' % written,
         'dd of the data written', 'backup.lustre.none', 'backup.dd_written',
         '<= 1.25', lambda r: r <= 1.25)
    if 'backup.big.lustre.none' in ops:
        big = ops['backup.big.lustre.none']
        pair('backup, %d GiB with the same data (time, vs %d GiB)' % (
            big['size_gib'], small['size_gib']), 'the %d GiB backup' %
            small['size_gib'], 'backup.big.lustre.none',
            'backup.lustre.none', '<= 1.1', lambda r: r <= 1.1)
    if 'backup.dense.lustre.none' in ops:
        dense = ops['backup.dense.lustre.none']
        pair('backup, %d GiB fully written, no compression' %
             dense['size_gib'], 'dd of the volume', 'backup.dense.dd',
             'backup.dense.lustre.none', '>= 0.8', lambda r: r >= 0.8)
    for case, baseline, other in (
            ('', 'restore.dd_written', 'dd of the data written'),
            ('big.', 'restore.dd_written', 'dd of the data written'),
            ('dense.', 'restore.dense.dd', 'dd of the volume')):
        key = 'restore.%slustre.none' % case
        if key in ops:
            pair('restore, %d GiB with %d MiB written, no compression' % (
                ops[key]['size_gib'], ops[key]['written_mib']), other,
                baseline, key, '>= 0.8', lambda r: r >= 0.8)
    return [row for row in rows if row]


def memory_rows(ops):
    """Peak RSS of every backup and restore timed (issue 21: <= 256 MiB).

    The growth is the peak during the operation less the RSS before it:
    what the operation itself holds (the bench process, like a
    cinder-backup process, holds a few hundred MiB of its own).
    """
    rows = []
    for key in sorted(k for k in ops if 'rss_peak_mib' in ops[k]):
        op = ops[key]
        growth = [p - b for p, b in zip(op['rss_peak_mib'],
                                        op['rss_base_mib'])]
        lustre = '.lustre.' in key
        rows.append({'operation': key, 'size_gib': op.get('size_gib'),
                     'written_mib': op.get('written_mib'),
                     'growth_mib': max(growth),
                     'peak_mib': max(op['rss_peak_mib']),
                     'goal': '<= 256' if lustre else 'report',
                     'met': max(growth) <= 256 if lustre else None})
    return rows


def ratios(ops):
    size = ops.get('thick.lustre', {}).get('size_gib')
    rows = [
        _ratio(ops, 'create thick %s GiB' % size,
               'NFS driver (dd zeros)', 'thick.nfs', 'thick.lustre',
               '>= 100x', lambda r: r >= 100),
        _ratio(ops, 'create thick %s GiB (time, Lustre/bare)' % size,
               'bare fallocate', 'thick.lustre', 'thick.fallocate',
               '<= 2', lambda r: r <= 2),
    ]
    rows += _stats_rows(ops) + _copy_rows(ops) + _backup_rows(ops)
    rows += _ceiling_rows(ops)
    rows += _sparse_rows(ops)
    rows += _incremental_rows(ops)
    rows += _snapshot_incremental_rows(ops)
    rows += _snapshot_incremental_rows(ops, 'incremental_snap_dense',
                                       ' of a volume written whole')
    rows.append(_ratio(ops, '%s concurrent create/delete' %
                       ops.get('aa.1', {}).get('ops'),
                       '1 vs 2 driver instances (A/A)', 'aa.1', 'aa.2',
                       '>= 1.6x', lambda r: r >= 1.6))
    return [row for row in rows if row]


def _fmt(value):
    return '%.3g' % value


def _verdict(met):
    return {True: 'met', False: '**missed**', None: '-'}[met]


def markdown(meta, ops, rows, profiles):
    m = meta['machine']
    load = meta['load_average']
    lines = [
        '# LustreDriver benchmark (%s)' % (
            'quick' if meta['params']['quick'] else 'full'),
        '',
        'Produced by `tox -e bench%s` on %s: %s cores (%s), %s GiB RAM, '
        'disk %s (%s, %s, %s free), kernel %s, %s, Python %s, cinder %s, '
        'os-brick %s, %s, emulated `%s`.  Load average %s before, %s after '
        '(other jobs shared the machine: the numbers are noisy).  Wall '
        'time %s s.' % (
            ' -- --quick' if meta['params']['quick'] else '',
            meta['started'], m['nproc'], m['cpu'], m['memory_gib'],
            m['disk']['device'], m['disk']['fstype'], m['disk']['size'],
            m['disk']['free'], m['kernel'], m['os'], m['python'],
            m['cinder'], m['os-brick'], m['qemu-img'], m['lfs'],
            '/'.join('%.2f' % x for x in load['before']),
            '/'.join('%.2f' % x for x in load['after']),
            meta['wall_seconds']),
    ]
    if m.get('malloc_arena_max'):
        lines[-1] += ('  `MALLOC_ARENA_MAX=%s`, as the backup driver page '
                      'advises for cinder-backup.' % m['malloc_arena_max'])
    for rerun in meta.get('reruns', []):
        lines[-1] += ('  Rerun on %s (other jobs disturbed their first '
                      'figures): %s; load average %s before, %s after.' % (
                          rerun['started'], ', '.join(rerun['steps']),
                          '/'.join('%.2f' % x for x in
                                   rerun['load_average']['before']),
                          '/'.join('%.2f' % x for x in
                                   rerun['load_average']['after'])))
    lines += [
        '',
        'Parameters: `%s`' % json.dumps(meta['params']),
        '',
        '## Ratios',
        '',
        'Ratio > 1: Lustre is faster (rows marked "time, A/B" or '
        '"incr/full" are plain quotients).  Median of the runs, with the '
        'worst and best pairing of runs.',
        '',
        '| operation | compared with | ratio (median) | min | max | goal '
        '| |',
        '|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        r = row['ratio']
        lines.append('| %s | %s | %s | %s | %s | %s | %s |' % (
            row['operation'], row['compared_with'], _fmt(r['median']),
            _fmt(r['min']), _fmt(r['max']), row['goal'],
            _verdict(row['met'])))
    memory = memory_rows(ops)
    if memory:
        lines += ['', '## Peak RSS of backups and restores (MiB)', '',
                  'Growth: the peak during the operation less the RSS of '
                  'the process before it (the largest of the runs).', '',
                  '| operation | volume GiB | written MiB | growth | peak '
                  '| goal | |', '|---|---|---|---|---|---|---|']
        for row in memory:
            lines.append('| %s | %s | %s | %d | %d | %s | %s |' % (
                row['operation'], row['size_gib'], row['written_mib'],
                row['growth_mib'], row['peak_mib'], row['goal'],
                _verdict(row['met'])))
    lines += ['', '## Timings (seconds, each followed by sync)', '',
              '| key | median | min | max | runs |', '|---|---|---|---|---|']
    for key, op in sorted(ops.items()):
        s = stat(op['samples'])
        lines.append('| %s | %s | %s | %s | %d |' % (
            key, _fmt(s['median']), _fmt(s['min']), _fmt(s['max']),
            s['runs']))
    for key, text in sorted(profiles.items()):
        lines += ['', '### cProfile: %s (one extra run)' % key, '',
                  '```'] + text + ['```']
    return '\n'.join(lines) + '\n'


def chart(path, rows, memory=()):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    labels = ['%s\nvs %s' % (r['operation'], r['compared_with'])
              for r in rows]
    medians = [r['ratio']['median'] for r in rows]
    low = [m - r['ratio']['min'] for m, r in zip(medians, rows)]
    high = [r['ratio']['max'] - m for m, r in zip(medians, rows)]
    colors = {True: 'tab:green', False: 'tab:red', None: 'tab:gray'}
    heights = [0.45 * len(rows) + 1.5]
    if memory:
        heights.append(0.3 * len(memory) + 1.2)
    fig, axes = pyplot.subplots(len(heights), 1, squeeze=False,
                                figsize=(10, sum(heights)),
                                gridspec_kw={'height_ratios': heights})
    ax = axes[0][0]
    ax.barh(range(len(rows)), medians, xerr=[low, high],
            color=[colors[r['met']] for r in rows])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale('log')
    ax.axvline(1, color='black', linewidth=0.8)
    ax.set_xlabel('ratio (log); green: goal met, red: missed, grey: no goal')
    if memory:
        ax = axes[1][0]
        ax.barh(range(len(memory)), [m['growth_mib'] for m in memory],
                color=[colors[m['met']] for m in memory])
        ax.set_yticks(range(len(memory)))
        ax.set_yticklabels(['%s (%s GiB)' % (m['operation'], m['size_gib'])
                            for m in memory], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale('log')
        ax.axvline(256, color='black', linewidth=0.8)
        ax.set_xlabel('peak RSS growth of the operation, MiB (log); '
                      'line: 256 MiB')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)


def merge_rerun(folder, meta, samples):
    """The results in folder, with the steps just rerun in place.

    The first run's description stays; the rerun is listed in 'reruns'
    with its steps, start and load.
    """
    with open(os.path.join(folder, 'results.json')) as f:
        old = json.load(f)
    ops = {key: {k: v for k, v in op.items()
                 if k not in ('median', 'min', 'max', 'runs')}
           for key, op in old['timings'].items()}
    ops.update(samples.get('ops', {}))
    merged = {'ops': ops,
              'profiles': dict(old.get('profiles') or {},
                               **samples.get('profiles', {})),
              'step_seconds': dict(old.get('step_seconds') or {},
                                   **(samples.get('step_seconds') or {}))}
    first = {k: old[k] for k in ('machine', 'load_average', 'started',
                                 'wall_seconds', 'mount_nfs_helper',
                                 'params')}
    first['reruns'] = old.get('reruns', []) + [{
        'steps': meta['params']['only'], 'started': meta['started'],
        'load_average': meta['load_average'],
        'wall_seconds': meta['wall_seconds']}]
    return first, merged


def write(folder, meta, samples):
    os.makedirs(folder, exist_ok=True)
    ops = samples.get('ops', {})
    rows = ratios(ops)
    profiles = samples.get('profiles', {})
    summary = dict(meta, ratios=rows, memory=memory_rows(ops),
                   timings={k: dict(v, **stat(v['samples']))
                            for k, v in ops.items()},
                   step_seconds=samples.get('step_seconds'),
                   profiles=profiles)
    with open(os.path.join(folder, 'results.json'), 'w') as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    with open(os.path.join(folder, 'results.md'), 'w') as f:
        f.write(markdown(meta, ops, rows, profiles))
    chart(os.path.join(folder, 'results.png'), rows, memory_rows(ops))
