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

"""Assemble the change as a commit on upstream Cinder and run its checks.

See harness/export/README.rst.  Sub-commands::

    tree      fetch the cinder sdist, make it a git tree, lay each change of
              the series (harness/export/series.txt) over it in order,
              regenerating cinder/opts.py, one commit each; write the series
              as format-patch files
    check     run upstream's checks on every commit of the series, in order,
              and write a summary
    all       tree, then check (what `tox -e export` runs)
    reverse-check  apply every reverse patch (harness/export/reverse/) to
              a scratch copy of the change's files, newest change first:
              seconds, run by .ci/run
    reverse-edit NAME DIR  DIR/a = the files at the change of the reverse
              patch NAME (the reverse patches of the later changes
              applied), DIR/b = the same with NAME applied (rejects left as
              .rej), to edit (README.rst, "Reverse patches")
    reverse-diff NAME DIR  write the reverse patch NAME: diff DIR/a DIR/b
    docs      quick Sphinx build of the change's pages (`tox -e docs`)
    releasenotes  lint and render the change's release notes

Runs in the docs venv (harness/requirements-docs.txt), which has cinder
29.0.0 installed; every command on the exported tree runs with the tree
first on PYTHONPATH, so the tree's cinder (a regular package) is the one
imported.
"""

import argparse
import configparser
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import overlay  # noqa: E402  (harness/overlay.py: the change manifest)

VERSION = '29.0.0'
RESULTS = os.path.join(REPO, 'harness', 'results', 'export')
CACHE = os.path.join(REPO, 'harness', 'state', 'sdist')
TREE = os.path.join(RESULTS, 'cinder')
SERIES = os.path.join(HERE, 'series.txt')
SERIES_DIR = os.path.join(HERE, 'series')
REVERSE_DIR = os.path.join(HERE, 'reverse')
PATCH_DIR = os.path.join(REPO, 'patches')
TREE_PATCH_DIR = os.path.join(PATCH_DIR, 'tree')
STANZA_DIR = os.path.join(PATCH_DIR, 'stanzas')
BASE_AUTHOR = ('OpenStack Release', 'release@openstack.invalid')


class ExportError(Exception):
    pass


def run(cmd, cwd=None, env=None, check=True, capture=False, **kw):
    """Run a command; with capture, return (rc, combined output)."""
    print('+ %s' % ' '.join(cmd), flush=True)
    if capture:
        proc = subprocess.run(cmd, cwd=cwd, env=env, text=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, **kw)
        if check and proc.returncode:
            print(proc.stdout)
            raise ExportError('%s failed (%d)' % (cmd[0], proc.returncode))
        return proc.returncode, proc.stdout
    proc = subprocess.run(cmd, cwd=cwd, env=env, **kw)
    if check and proc.returncode:
        raise ExportError('%s failed (%d)' % (' '.join(cmd), proc.returncode))
    return proc.returncode, None


def tree_env(tree=TREE):
    env = dict(os.environ)
    env['PYTHONPATH'] = tree + (os.pathsep + env['PYTHONPATH']
                                if env.get('PYTHONPATH') else '')
    env.pop('CINDER_SITE', None)
    env['PBR_VERSION'] = VERSION
    return env


# --- the upstream source ---------------------------------------------------

def fetch_sdist():
    """Return the extracted cinder sdist, downloading it once."""
    src = os.path.join(CACHE, 'cinder-%s' % VERSION)
    if os.path.isfile(os.path.join(src, 'setup.cfg')):
        return src
    os.makedirs(CACHE, exist_ok=True)
    tarball = os.path.join(CACHE, 'cinder-%s.tar.gz' % VERSION)
    if not os.path.exists(tarball):
        run([sys.executable, '-m', 'pip', 'download', '--no-deps',
             '--no-binary', ':all:', '--dest', CACHE,
             'cinder==%s' % VERSION])
    with tarfile.open(tarball) as tar:
        tar.extractall(CACHE, filter='data')
    return src


def git(tree, *args, **kw):
    return run(['git', '-C', tree] + list(args), **kw)


def _git_env(name, email):
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
               GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
    return env


def make_base(src):
    """A fresh git tree of the sdist, committed as the upstream base."""
    if os.path.exists(TREE):
        shutil.rmtree(TREE)
    os.makedirs(RESULTS, exist_ok=True)
    shutil.copytree(src, TREE, symlinks=True)
    for junk in ('PKG-INFO', 'cinder.egg-info'):
        path = os.path.join(TREE, junk)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    git(TREE, 'init', '-q', '-b', 'master')
    git(TREE, 'add', '-A')
    git(TREE, 'commit', '-q', '-m', 'cinder %s (sdist)' % VERSION,
        env=_git_env(*BASE_AUTHOR))


# --- laying the change over it ---------------------------------------------

def copy_change_files(files, root=REPO):
    """Copy (never link) a change's own files to their in-tree paths.

    root holds the files as they are at the change being laid (the
    repository, or a scratch copy with reverse patches applied).
    """
    copied = []
    for rel in files:
        if rel.startswith('patches/'):
            continue
        dest = os.path.join(TREE, rel)
        if os.path.exists(dest):
            raise ExportError('%s exists upstream: turn the edit into a '
                              'patch' % rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), dest)
        copied.append(rel)
    return copied


def apply_patches(files, root=REPO):
    """Apply a change's patches/*.patch, then its patches/tree/*.patch."""
    patches = sorted(f for f in files if re.match(r'patches/[^/]+\.patch$', f))
    patches += sorted(f for f in files if f.startswith('patches/tree/'))
    for patch in patches:
        run(['patch', '-p1', '--batch', '--forward', '--silent',
             '--no-backup-if-mismatch', '-r', '-', '-d', TREE, '-i',
             os.path.join(root, patch)])
    return patches


def _ini_sections(lines):
    """[(name, first line index, end index)] of an INI file's sections."""
    heads = [(i, m.group(1)) for i, line in enumerate(lines)
             for m in [re.match(r'^\[([^]]+)\]\s*$', line)] if m]
    out = []
    for n, (i, name) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        out.append((name, i, end))
    return out


def merge_support_matrix(upstream, stanza):
    """Fold the stanza's driver and operation lines into upstream's file.

    A [driver.X] section goes before the first [driver.*] section whose
    name sorts after it; each driver.X=VALUE line goes into the operation
    section of the same name, before the first driver.* line that sorts
    after it.  Every upstream operation must get a value.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(stanza)
    with open(upstream, encoding='utf-8') as f:
        lines = f.read().splitlines(keepends=True)

    drivers = [s for s in parser.sections() if s.startswith('driver.')]
    operations = [s for s in parser.sections()
                  if s.startswith('operation.')]
    for driver in drivers:
        sections = _ini_sections(lines)
        if any(name == driver for name, _i, _e in sections):
            raise ExportError('%s is already in %s' % (driver, upstream))
        block = ['[%s]\n' % driver]
        block += ['%s=%s\n' % (k, v) for k, v in parser[driver].items()]
        block.append('\n')
        upstream_drivers = [(n, i) for n, i, _e in sections
                            if n.startswith('driver.')]
        after = [i for n, i in upstream_drivers if n > driver]
        if after:
            at = after[0]
        else:   # after the last driver section, blank line included
            at = [e for n, _i, e in sections if n.startswith('driver.')][-1]
        lines[at:at] = block

    upstream_ops = [n for n, _i, _e in _ini_sections(lines)
                    if n.startswith('operation.')]
    missing = set(upstream_ops) - set(operations)
    unknown = set(operations) - set(upstream_ops)
    if missing or unknown:
        raise ExportError('support matrix stanza: operations missing %s, '
                          'unknown %s' % (sorted(missing), sorted(unknown)))
    for op in operations:
        for key, value in parser[op].items():
            sections = {n: (i, e) for n, i, e in _ini_sections(lines)}
            start, end = sections[op]
            entries = [(i, lines[i].split('=', 1)[0].strip())
                       for i in range(start + 1, end)
                       if re.match(r'^driver\.[^=\s]+\s*=', lines[i])]
            if any(k == key for _i, k in entries):
                raise ExportError('%s already has %s' % (op, key))
            later = [i for i, k in entries if k > key]
            at = later[0] if later else entries[-1][0] + 1
            lines.insert(at, '%s=%s\n' % (key, value))
    with open(upstream, 'w', encoding='utf-8') as f:
        f.writelines(lines)


STANZA_MERGERS = {
    'doc/source/reference/support-matrix.ini': merge_support_matrix,
}


def merge_stanzas(files=None, root=REPO):
    """Merge the stanzas among files (all of them by default)."""
    merged = []
    stanza_dir = os.path.join(root, os.path.relpath(STANZA_DIR, REPO))
    for path in sorted(glob.glob(os.path.join(stanza_dir, '**'),
                                 recursive=True)):
        if not os.path.isfile(path):
            continue
        if files is not None and os.path.relpath(path, root) not in files:
            continue
        rel = os.path.relpath(path, stanza_dir)
        merger = STANZA_MERGERS.get(rel)
        if merger is None:
            raise ExportError('no merger for stanza %s' % rel)
        merger(os.path.join(TREE, rel), path)
        merged.append(rel)
    return merged


def regenerate_opts():
    """cinder/opts.py by upstream's own generator (tox -e genopts)."""
    run([sys.executable, 'tools/config/generate_cinder_opts.py'], cwd=TREE,
        env=tree_env())


# --- the series ----------------------------------------------------------

def read_series():
    """The changes of series.txt, in order: (message source, globs, reverse).

    reverse is the change's reverse patch (harness/export/reverse/...,
    from a ``reverse: FILE`` line) or None.
    """
    blocks, block = [], []
    with open(SERIES, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if line.startswith('#'):
                continue
            if line:
                block.append(line)
            elif block:
                blocks.append(block)
                block = []
    if block:
        blocks.append(block)
    series = []
    for b in blocks:
        reverse = [line.split(None, 1)[1] for line in b[1:]
                   if line.startswith('reverse: ')]
        if len(reverse) > 1:
            raise ExportError('%s: change "%s" has two reverse patches'
                              % (SERIES, b[0]))
        globs = [line for line in b[1:] if not line.startswith('reverse: ')]
        # A patch's change holds the patch itself.
        if b[0].startswith('patches/'):
            globs.append(b[0])
        series.append((b[0], globs,
                       os.path.join(REVERSE_DIR, reverse[0])
                       if reverse else None))
    return series


def assign_files(series):
    """The manifest's files of each change; each file in exactly one."""
    files = overlay.manifest_files()
    owner = {}
    for index, (head, globs, _reverse) in enumerate(series):
        for pattern in globs:
            regex = overlay._glob_regex(pattern)
            matched = [rel for rel in files if regex.match(rel)]
            if not matched:
                raise ExportError('%s: %s (change "%s") names no file of '
                                  'the manifest' % (SERIES, pattern, head))
            for rel in matched:
                if owner.setdefault(rel, index) != index:
                    raise ExportError('%s is in two changes of %s'
                                      % (rel, SERIES))
    missing = [rel for rel in files if rel not in owner]
    if missing:
        raise ExportError('no change of %s holds %s'
                          % (SERIES, ', '.join(missing)))
    return [[rel for rel in files if owner[rel] == index]
            for index in range(len(series))]


def _message_lines(path):
    with open(path, encoding='utf-8') as f:
        return [line for line in f if not line.startswith('#')]


def change_message(head):
    """The commit message of a change, with its Change-Id.

    A patch's message is its header, the text before its diff; its
    Change-Id is derived from the patch's name, so that every export is a
    new patch set of the same Gerrit change.
    """
    if head.startswith('message: '):
        path = os.path.join(SERIES_DIR, head.split(None, 1)[1])
        text = ''.join(_message_lines(path)).strip() + '\n'
        if not re.search(r'^Change-Id: I[0-9a-f]{40}$', text, re.M):
            raise ExportError('%s has no Change-Id: I<40 hex> line' % path)
        return text
    header = []
    for line in _message_lines(os.path.join(REPO, head)):
        if line.startswith(('diff ', '--- ')):
            break
        header.append(line)
    text = ''.join(header).strip()
    if not text:
        raise ExportError('%s has no header to be its commit message' % head)
    change_id = hashlib.sha1(
        ('lustre-series/' + os.path.basename(head)).encode()).hexdigest()
    return '%s\n\nChange-Id: I%s\n' % (text, change_id)


# --- reverse patches ---------------------------------------------------------

STATES = os.path.join(RESULTS, 'states')


def _reverse_targets(series, files, index):
    """The files change index's reverse patch edits; all of earlier ones."""
    reverse = series[index][2]
    if not os.path.isfile(reverse):
        raise ExportError('%s: no reverse patch %s' % (SERIES, reverse))
    earlier = {rel for change in files[:index] for rel in change}
    targets = overlay._patch_targets(reverse)
    later = [rel for rel in targets if rel not in earlier]
    if later:
        raise ExportError('%s edits %s, not a file of a change before its '
                          'own' % (reverse, ', '.join(later)))
    return targets


def _copy_files(src, dest, rels):
    if os.path.exists(dest):
        shutil.rmtree(dest)
    for rel in rels:
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(os.path.join(src, rel), os.path.join(dest, rel))


def reverse_states(series, files, base=STATES, stop=0, rejects=False):
    """The root of the change's files as they are at each change.

    The last change's are the repository's own; each change with a reverse
    patch gets a scratch copy of the next change's files with that
    patch applied, so that change k's root has the reverse patches of
    every later change applied, newest first.  Stops at change stop.
    With rejects, a hunk that does not apply is left as a .rej file
    instead of an error (reverse-edit).
    """
    everything = [rel for change in files for rel in change]
    roots = [REPO] * len(series)
    for index in range(len(series) - 1, stop, -1):
        root = roots[index]
        if series[index][2] is not None:
            # Refuses a reverse patch that edits a later change's file.
            _reverse_targets(series, files, index)
            new = os.path.join(base, '%02d' % (index - 1))
            _copy_files(root, new, everything)
            cmd = ['patch', '-p1', '--batch', '--forward',
                   '--no-backup-if-mismatch', '-d', new, '-i',
                   series[index][2]]
            if not rejects:
                cmd[4:4] = ['-r', '-']
            rc, out = run(cmd, check=False, capture=True)
            if rc and not rejects:
                # patch names each file before its failed hunks.
                raise ExportError('%s no longer applies; regenerate it '
                                  '(harness/export/README.rst):\n%s' % (
                                      os.path.relpath(series[index][2],
                                                      REPO), out))
            root = new
        roots[index - 1] = root
    return roots


def reverse_check():
    """Every reverse patch applies to the current files, newest first."""
    started = time.time()
    series = read_series()
    files = assign_files(series)
    reverse_states(series, files, os.path.join(RESULTS, 'reverse-check'))
    count = sum(1 for change in series if change[2] is not None)
    print('reverse-check: %d reverse patches apply (%.1f s)'
          % (count, time.time() - started))


def _reverse_index(series, name):
    names = [i for i, change in enumerate(series) if change[2] is not None
             and name in os.path.basename(change[2])]
    if len(names) != 1:
        raise ExportError('%s names %d reverse patches' % (name, len(names)))
    return names[0]


def reverse_edit(name, out):
    """Lay out a reverse patch's two sides to edit it.

    out/a: the files at the change whose reverse patch is name; out/b:
    out/a with that patch applied (rejects as .rej), or a copy of out/a
    for a new one: edit out/b, then reverse-diff.
    """
    series = read_series()
    files = assign_files(series)
    index = _reverse_index(series, name)
    everything = [rel for change in files for rel in change]
    roots = reverse_states(series, files, os.path.join(out, 'states'),
                           stop=index)
    _copy_files(roots[index], os.path.join(out, 'a'), everything)
    _copy_files(roots[index], os.path.join(out, 'b'), everything)
    shutil.rmtree(os.path.join(out, 'states'), ignore_errors=True)
    if os.path.exists(series[index][2]):
        run(['patch', '-p1', '--batch', '--forward',
             '--no-backup-if-mismatch', '-d', os.path.join(out, 'b'), '-i',
             series[index][2]], check=False)
    print('edit %s/b, then: export.py reverse-diff %s %s' % (out, name, out))


REVERSE_HEADER = """\
Reverse patch of the change
  %s
It takes the files of the changes before it from their state at this
change to their state at the change before it. Written by
harness/export/export.py reverse-diff; see harness/export/README.rst,
"Reverse patches".

"""


def reverse_diff(name, out):
    """Write the reverse patch name as the diff of out/a to out/b."""
    series = read_series()
    index = _reverse_index(series, name)
    rc, text = run(['diff', '-ruN', 'a', 'b'], cwd=out, check=False,
                   capture=True)
    if rc > 1:
        raise ExportError('diff failed: %s' % text)
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith('diff '):
            continue
        # No time stamps: the patch changes only when its hunks do.
        match = re.match(r'^(---|\+\+\+) (\S+)\t', line)
        lines.append('%s %s\n' % match.groups() if match else line)
    subject = change_message(series[index][0]).splitlines()[0]
    with open(series[index][2], 'w', encoding='utf-8') as f:
        f.write(REVERSE_HEADER % subject + ''.join(lines))
    print('wrote %s' % os.path.relpath(series[index][2], REPO))


# --- the commits -----------------------------------------------------------

def commit_change(index, series, files, root, base):
    """Commit the tree of change index over upstream's base.

    The tree is every change up to it, their files as they are at that
    change (root).
    """
    head = series[index][0]
    # From the base each time: a later change's reverse patch may change
    # a file (or a patch, a stanza) of an earlier one.
    git(TREE, 'read-tree', '-u', '--reset', base)
    git(TREE, 'clean', '-q', '-f', '-d', '-x')
    for change_files in files[:index + 1]:
        copied = copy_change_files(change_files, root)
        patched = apply_patches(change_files, root)
        merged = merge_stanzas(change_files, root)
    # Upstream's generator lists every module that registers options: a
    # change that adds one changes cinder/opts.py.
    regenerate_opts()
    git(TREE, 'add', '-A')
    name = os.environ.get('EXPORT_AUTHOR_NAME', 'Cinder Lustre Team')
    email = os.environ.get('EXPORT_AUTHOR_EMAIL',
                           'cinder-lustre@openstack.invalid')
    message = change_message(head)
    run(['git', '-C', TREE, 'commit', '-q', '-F', '-'],
        env=_git_env(name, email), input=message, text=True)
    _rc, stat = git(TREE, 'show', '--stat', '--format=', 'HEAD',
                    capture=True)
    return {'subject': message.splitlines()[0], 'files_copied': copied,
            'patches': patched, 'stanzas': merged,
            'reverse_applied': [os.path.relpath(change[2], REPO)
                                for change in series[index + 1:]
                                if change[2] is not None],
            'stat': stat.strip().splitlines()[-1]}


def make_tree():
    started = time.time()
    series = read_series()
    files = assign_files(series)
    roots = reverse_states(series, files)
    make_base(fetch_sdist())
    _rc, base = git(TREE, 'rev-parse', 'HEAD', capture=True)
    changes = [commit_change(index, series, files, roots[index],
                             base.strip())
               for index in range(len(series))]
    for old in glob.glob(os.path.join(RESULTS, '*.patch')):
        os.unlink(old)
    _rc, out = git(TREE, 'format-patch', '-o', RESULTS,
                   'HEAD~%d..HEAD' % len(changes), capture=True)
    for change, patch in zip(changes, out.split()):
        change['format_patch'] = os.path.relpath(patch, REPO)
    info = {'changes': changes, 'seconds': round(time.time() - started, 1)}
    with open(os.path.join(RESULTS, 'tree.json'), 'w') as f:
        json.dump(info, f, indent=1)
    for change in changes:
        print('exported: %s (%s)' % (change['format_patch'], change['stat']))
    return info


# --- upstream's checks -------------------------------------------------------

def changed_files(pattern=None):
    _rc, out = git(TREE, 'diff', '--name-only', '--diff-filter=ACMR',
                   'HEAD~1', 'HEAD', capture=True)
    files = out.split()
    if pattern:
        files = [f for f in files if re.search(pattern, f)]
    return files


def check_precommit_hooks():
    """The generic pre-commit hooks of upstream, on the changed files."""
    problems = []
    for rel in changed_files():
        path = os.path.join(TREE, rel)
        with open(path, 'rb') as f:
            data = f.read()
        if b'\0' in data[:1024]:
            # A binary file (a figure): the hooks take text files only,
            # as pre-commit's types: [text] does.
            continue
        text = data.decode('utf-8')
        if data.startswith(b'\xef\xbb\xbf'):
            problems.append('%s: byte order mark' % rel)
        if b'\r' in data:
            problems.append('%s: CR line ending' % rel)
        for n, line in enumerate(text.splitlines(), 1):
            if line != line.rstrip():
                problems.append('%s:%d: trailing whitespace' % (rel, n))
            if '\t' in line and not rel.endswith('.svg'):
                problems.append('%s:%d: tab' % (rel, n))
            if re.match(r'^(<<<<<<< |=======$|>>>>>>> )', line):
                problems.append('%s:%d: merge conflict marker' % (rel, n))
        if text and not text.endswith('\n'):
            problems.append('%s: no newline at end of file' % rel)
        if os.access(path, os.X_OK) and not text.startswith('#!'):
            problems.append('%s: executable without shebang' % rel)
        if rel.endswith('.py') and re.search(
                r'^\s*(import pdb|import ipdb|breakpoint\(\))', text, re.M):
            problems.append('%s: debug statement' % rel)
        if rel.endswith(('.yaml', '.yml')):
            import yaml
            try:
                yaml.safe_load(text)
            except yaml.YAMLError as exc:
                problems.append('%s: %s' % (rel, exc))
        if rel.endswith('.json'):
            try:
                json.loads(text)
            except ValueError as exc:
                problems.append('%s: %s' % (rel, exc))
    print('\n'.join(problems) or 'pre-commit hooks: clean')
    return not problems, '\n'.join(problems)


def _step(name, func, results, change):
    """Run one check; ok None means it had nothing to check (SKIP)."""
    print('\n=== %s: %s' % (change, name), flush=True)
    started = time.time()
    try:
        ok, detail = func()
    except ExportError as exc:
        ok, detail = False, str(exc)
    result = 'SKIP' if ok is None else 'PASS' if ok else 'FAIL'
    results.append({'change': change, 'check': name, 'result': result,
                    'seconds': round(time.time() - started, 1),
                    'detail': (detail or '')[-4000:]})
    last = results[-1]
    print('=== %s: %s (%.0f s)' % (name, last['result'], last['seconds']),
          flush=True)


def _cmd(cmd, cwd=TREE, env=None, ok_codes=(0,)):
    def step():
        rc, out = run(cmd, cwd=cwd, env=env or tree_env(), check=False,
                      capture=True)
        print(out[-6000:])
        return rc in ok_codes, out
    return step


def check_flake8():
    """Upstream's hacking hook: flake8 with tox.ini's settings and plugins.

    pre-commit runs it on every file but doc/, releasenotes/ and tools/;
    the changed Python files are the ones it can newly complain about
    (tools/fast8.sh does the same).
    """
    files = [f for f in changed_files(r'\.py$')
             if not re.match(r'^(doc|releasenotes|tools)/', f)]
    if not files:
        return None, 'no Python file changed'
    return _cmd(['flake8'] + files)()


def check_doc8():
    files = changed_files(r'\.(rst|txt|inc)$')
    files = [f for f in files if not f.startswith('releasenotes/')]
    if not files:
        return None, 'no page changed'
    return _cmd(['doc8'] + files)()


def check_uptodate():
    return _cmd(['bash', 'tools/config/check_uptodate.sh'])()


def check_mypy():
    """Upstream's tox -e mypy: pyproject's module list, ours added."""
    return _cmd(['mypy', '--cache-dir',
                 os.path.join(RESULTS, 'mypy_cache')])()


# Upstream's tests of what the change builds on, run at every change.
NEIGHBOUR_TESTS = ('volume.drivers.test_remotefs', 'volume.drivers.test_nfs',
                   'backup.drivers.test_backup_nfs',
                   'backup.drivers.test_backup_posix',
                   'backup.test_chunkeddriver')


def check_unit():
    """The change's own test modules and its neighbours' (upstream's)."""
    modules = set(NEIGHBOUR_TESTS)
    for rel in changed_files(r'^cinder/tests/unit/.*/test_[^/]*\.py$'):
        modules.add(rel[len('cinder/tests/unit/'):-3].replace('/', '.'))
    regex = r'cinder\.tests\.unit\.(%s)\.' % '|'.join(
        re.escape(m) for m in sorted(modules))
    # As root, upstream's test_put_container_disabled cannot fail the way
    # it expects (see tox.ini [lustre] root_excludes).
    exclude = r'test_backup_posix\..*\.test_put_container_disabled'
    return _cmd(['stestr', 'run', '--exclude-regex', exclude, regex])()


def check_compliance():
    return _cmd(['stestr', '--test-path', './cinder/tests/compliance',
                 'run'])()


def check_docs():
    if not changed_files(r'^(doc/|cinder/.*drivers/lustre)'):
        return None, 'no page or documented option changed'
    return build_docs(TREE, os.path.join(RESULTS, 'docs'))


def series_commits():
    """The commits of the series, oldest first, with their subjects."""
    _rc, out = git(TREE, 'log', '--reverse', '--format=%H %s',
                   'master~%d..master' % len(read_series()), capture=True)
    return [line.split(' ', 1) for line in out.splitlines()]


def run_checks(only=None):
    """Every check on every change of the series, in order.

    Each change is checked on its own tree (the changes before it and
    itself), as Gerrit's jobs check it: a change must pass without the
    ones after it.
    """
    if not os.path.isdir(os.path.join(TREE, '.git')):
        raise ExportError('no exported tree: run the tree step first')
    results = []
    try:
        for sha, subject in series_commits():
            git(TREE, 'checkout', '-q', '--detach', sha)
            for name, func in CHECKS:
                if only and not any(o in func.__name__ for o in only):
                    continue
                _step(name, func, results, subject)
    finally:
        git(TREE, 'checkout', '-q', 'master')
    write_summary(results)
    return all(r['result'] != 'FAIL' for r in results)


def write_summary(results):
    info = {}
    path = os.path.join(RESULTS, 'tree.json')
    if os.path.exists(path):
        with open(path) as f:
            info = json.load(f)
    with open(os.path.join(RESULTS, 'summary.json'), 'w') as f:
        json.dump({'tree': info, 'checks': results}, f, indent=1)
    out = ['Export of the Lustre series onto cinder %s' % VERSION, '']
    for change in info.get('changes', []):
        out += ['%s (%s)' % (change['format_patch'], change['stat'])]
    if info:
        out += ['export:  %.0f s' % info['seconds']]
    width = max(len(r['check']) for r in results)
    change = None
    for r in results:
        if r['change'] != change:
            change = r['change']
            out += ['', change]
        out.append('  %-*s  %s  %6.0f s' % (width, r['check'], r['result'],
                                            r['seconds']))
    counts = {k: sum(r['result'] == k for r in results)
              for k in ('PASS', 'FAIL', 'SKIP')}
    out += ['', '%(PASS)d passed, %(FAIL)d failed, %(SKIP)d skipped '
            '(nothing to check)' % counts]
    text = '\n'.join(out) + '\n'
    with open(os.path.join(RESULTS, 'summary.txt'), 'w') as f:
        f.write(text)
    print('\n' + text)


# --- Sphinx builds -----------------------------------------------------------

# The pages of the change, the upstream pages they link to, and the index
# pages that list them: the subset of upstream's doc/source that is built.
# The whole of upstream's docs (apidoc over every module, every driver's
# page, the sample config and policy) takes far longer on two cores and
# checks nothing of the change that this subset does not.
DOC_PAGES = [
    'configuration/block-storage/drivers/lustre-volume-driver.rst',
    'configuration/figures/lustre-*.png',
    'configuration/block-storage/backup/*.rst',
    'configuration/block-storage/backup-drivers.rst',
    'reference/support-matrix.rst',
    'reference/support-matrix.ini',
    '_extra',
    '_static',
]
# Upstream's extensions that the subset needs (config-table and the
# support matrix) and the theme; the rest generate pages it leaves out.
DOC_EXTENSIONS = [
    'openstackdocstheme',
    'sphinx_feature_classification.support_matrix',
    'ext.driver_opts',
]


def build_docs(source_root, out):
    """Build the subset of source_root/doc/source with warnings as errors.

    The pages keep their paths, and conf.py is upstream's with the
    extension list cut down to what the subset needs.
    """
    src = os.path.join(out, 'source')
    if os.path.exists(out):
        shutil.rmtree(out)
    upstream = os.path.join(source_root, 'doc', 'source')
    pages = []
    for pattern in DOC_PAGES:
        for path in sorted(glob.glob(os.path.join(upstream, pattern))):
            rel = os.path.relpath(path, upstream)
            dest = os.path.join(src, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.isdir(path):
                shutil.copytree(path, dest)
            else:
                shutil.copy2(path, dest)
                pages.append(rel)
    with open(os.path.join(upstream, 'conf.py'), encoding='utf-8') as f:
        conf = f.read()
    conf = re.sub(r'(?ms)^extensions = \[.*?\]\n',
                  'extensions = %r\n' % DOC_EXTENSIONS, conf, count=1)
    # conf.py puts ../../ (the source root) and ../ (doc/, for ext.*) on
    # sys.path relative to itself: point them at the source root.
    conf = conf.replace("os.path.abspath('../../')",
                        repr(os.path.abspath(source_root)))
    conf = conf.replace("os.path.abspath('../')",
                        repr(os.path.join(os.path.abspath(source_root),
                                          'doc')))
    with open(os.path.join(src, 'conf.py'), 'w', encoding='utf-8') as f:
        f.write(conf)
    toc = '\n'.join('   ' + p[:-4] for p in pages if p.endswith('.rst')
                    and 'backup/' not in p)
    with open(os.path.join(src, 'index.rst'), 'w', encoding='utf-8') as f:
        f.write('=============\nLustre change\n=============\n\n'
                '.. toctree::\n\n%s\n' % toc)
    rc, text = run(['sphinx-build', '-W', '--keep-going', '-b', 'html',
                    '-d', os.path.join(out, 'doctrees'), src,
                    os.path.join(out, 'html')],
                   env=tree_env(source_root) if source_root == TREE
                   else None, check=False, capture=True)
    print(text[-6000:])
    return rc == 0, text


def build_releasenotes(source_root, out):
    """reno lint, then the notes of the unreleased series, warnings fatal.

    Upstream's releasenotes build renders every series from the git
    history of branches and tags, which an sdist does not have; the
    unreleased page is the one the change adds to.
    """
    if os.path.exists(out):
        shutil.rmtree(out)
    rc, lint = run(['reno', 'lint'], cwd=source_root, check=False,
                   capture=True)
    print(lint)
    if rc:
        return False, lint
    src = os.path.join(out, 'source')
    upstream = os.path.join(source_root, 'releasenotes', 'source')
    shutil.copytree(upstream, src, ignore=shutil.ignore_patterns(
        '[0-9]*.rst', '[a-z]*.rst', 'locale'))
    shutil.copy2(os.path.join(upstream, 'unreleased.rst'), src)
    with open(os.path.join(src, 'index.rst'), 'w', encoding='utf-8') as f:
        f.write('=============\nRelease Notes\n=============\n\n'
                '.. toctree::\n   :maxdepth: 1\n\n   unreleased\n')
    with open(os.path.join(src, 'conf.py'), encoding='utf-8') as f:
        conf = f.read()
    # reno's sphinx extension scans the repository relative to conf.py.
    conf += '\nreno_repo_root = %r\n' % os.path.abspath(source_root)
    conf = conf.replace("os.path.abspath('.')", repr(upstream))
    with open(os.path.join(src, 'conf.py'), 'w', encoding='utf-8') as f:
        f.write(conf)
    with open(os.path.join(src, 'unreleased.rst'), encoding='utf-8') as f:
        page = f.read()
    page = page.replace('.. release-notes::',
                        '.. release-notes::\n   :relnotessubdir: '
                        'releasenotes\n') if ':relnotessubdir:' not in page \
        else page
    rc, text = run(['sphinx-build', '-a', '-E', '-W', '-b', 'html',
                    '-d', os.path.join(out, 'doctrees'), src,
                    os.path.join(out, 'html')],
                   cwd=source_root, check=False, capture=True)
    print(text[-6000:])
    return rc == 0, lint + text


# --- quick builds from the repository (tox -e docs / releasenotes) ----------

def quick_root():
    """A scratch source root: the sdist's doc/ and reno setup, our files."""
    src = fetch_sdist()
    root = os.path.join(REPO, 'harness', 'results', 'docs', 'root')
    if os.path.exists(root):
        shutil.rmtree(root)
    shutil.copytree(os.path.join(src, 'doc'), os.path.join(root, 'doc'))
    for rel in overlay.manifest_files():
        if rel.startswith(('doc/', 'releasenotes/')):
            dest = os.path.join(root, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), dest)
    for patch in sorted(glob.glob(os.path.join(TREE_PATCH_DIR, '*.patch'))):
        if any(t.startswith('doc/') for t in overlay._patch_targets(patch)):
            run(['patch', '-p1', '--batch', '--silent', '-d', root, '-i',
                 patch])
    global TREE
    saved, TREE = TREE, root
    try:
        merge_stanzas()
    finally:
        TREE = saved
    return root


def quick_docs():
    root = quick_root()
    ok, _text = build_docs(root, os.path.join(REPO, 'harness', 'results',
                                              'docs', 'build'))
    return ok


def releasenotes_repo(source_root, notes, root):
    """A scratch git repository with upstream's reno set-up and our notes.

    reno scans the git history. The exported tree squashes all of upstream
    into one base commit, in which upstream's own notes collide (two files
    with one UID, which upstream added in different commits), so the notes
    of the change are scanned in a repository of their own.
    """
    if os.path.exists(root):
        shutil.rmtree(root)
    shutil.copytree(os.path.join(source_root, 'releasenotes', 'source'),
                    os.path.join(root, 'releasenotes', 'source'))
    shutil.copy2(os.path.join(source_root, 'reno.yaml'), root)
    os.makedirs(os.path.join(root, 'releasenotes', 'notes'))
    for note in notes:
        shutil.copy2(note, os.path.join(root, 'releasenotes', 'notes'))
    git(root, 'init', '-q', '-b', 'master')
    git(root, 'add', '-A')
    git(root, 'commit', '-q', '-m', 'release notes',
        env=_git_env(*BASE_AUTHOR))
    return root


def check_releasenotes():
    notes = [os.path.join(TREE, f)
             for f in changed_files(r'^releasenotes/notes/.*\.yaml$')]
    if not notes:
        return None, 'no release note'
    root = releasenotes_repo(TREE, notes,
                             os.path.join(RESULTS, 'releasenotes-repo'))
    return build_releasenotes(root, os.path.join(RESULTS, 'releasenotes'))


def quick_releasenotes():
    notes = [os.path.join(REPO, rel) for rel in overlay.manifest_files()
             if rel.startswith('releasenotes/notes/')]
    base = os.path.join(REPO, 'harness', 'results', 'releasenotes')
    root = releasenotes_repo(fetch_sdist(), notes,
                             os.path.join(base, 'root'))
    ok, _text = build_releasenotes(root, os.path.join(base, 'build'))
    return ok


CHECKS = [
    ('pre-commit generic hooks (changed files)', check_precommit_hooks),
    ('flake8 + hacking + local checks (changed files)', check_flake8),
    ('doc8 (changed docs)', check_doc8),
    ('opts.py check_uptodate.sh', check_uptodate),
    ('mypy (pyproject modules + ours)', check_mypy),
    ('docs build (subset, -W)', check_docs),
    ('release notes (reno lint + build, -W)', check_releasenotes),
    ('unit tests (changed modules + upstream neighbours)', check_unit),
    ('compliance tests', check_compliance),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=['tree', 'check', 'all', 'docs',
                                            'releasenotes', 'reverse-check',
                                            'reverse-edit', 'reverse-diff'])
    parser.add_argument('args', nargs='*',
                        help='reverse-edit, reverse-diff: NAME (part of '
                             'the reverse patch\'s file name) and DIR')
    parser.add_argument('--only', action='append',
                        help='check: run the checks whose function name '
                             'contains this (repeatable)')
    args = parser.parse_args(argv)
    try:
        if args.command in ('tree', 'all'):
            make_tree()
        if args.command in ('check', 'all'):
            return 0 if run_checks(args.only) else 1
        if args.command == 'docs':
            return 0 if quick_docs() else 1
        if args.command == 'releasenotes':
            return 0 if quick_releasenotes() else 1
        if args.command == 'reverse-check':
            reverse_check()
        if args.command in ('reverse-edit', 'reverse-diff'):
            if len(args.args) != 2:
                parser.error('%s NAME DIR' % args.command)
            (reverse_edit if args.command == 'reverse-edit'
             else reverse_diff)(*args.args)
    except ExportError as exc:
        print('export: error: %s' % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
