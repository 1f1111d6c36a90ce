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

"""Lay the change over an installed upstream Cinder.

The repository holds only the files of the change, at their in-tree paths.
This tool makes the Python environment it runs in see them as if they were
part of the installed packages:

* every file of the repository's ``cinder/`` tree is symlinked into
  ``<purelib>/cinder/...`` (and likewise for each other pair of
  ``OVERLAYS`` whose repository folder exists, e.g. the os-brick and nova
  companions);
* every ``patches/*.patch`` (unified diffs against upstream files, paths
  ``a/cinder/...``) is applied to the installed file, whose pristine copy is
  kept beside it as ``<file>.lustre-orig``; likewise the ``PATCH_DIRS`` of
  the companions (paths ``a/os_brick/...``, ``a/nova/...``).
* every ``patches/tree/*.patch`` whose files are all data files that the
  upstream wheel installed below the environment's prefix (paths
  ``a/etc/...``: ``etc/cinder/rootwrap.d/volume.filters``) is applied there
  in the same way, so that tests which read them see the change's version.

Which packages are overlaid: those named in ``OVERLAY_PACKAGES`` (comma
separated, e.g. ``os_brick`` in a venv without Cinder), each of which must
be installed; without it, ``cinder`` and every companion package that is
installed.

``OVERLAY_EXTRA_PATCHES`` (comma separated ``package=folder``, the folder
relative to the repository) adds a folder of patches to a package, applied
after its own: a harness env on an older release uses it to give that
release an API the change needs (``tox -e cinderlib``).

Sub-commands::

    apply     lay the overlay (idempotent); removes stale symlinks of ours
    clean     remove every symlink of ours and restore patched files
    status    print the state of every overlaid file and patch
    check     like status, but quiet and exits 1 when not in sync
    manifest  print the repository files that form the Gerrit change
    modules   print the Python modules of the change (--tests: its tests)
    drivers   list the drivers cinder.interface.util discovers from the
              repository root; fail if a module of ours does not import or
              a driver lacks a method of its cinder.interface class

Only the standard library is used (``drivers`` imports cinder lazily).  The
tool refuses to replace an upstream file: a regular file, or a symlink that
does not point into this repository.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (folder of the repository, top-level package in site-packages).  A pair
# whose folder does not exist is skipped.
OVERLAYS = [
    ('cinder', 'cinder'),
    ('harness/companions/os-brick/os_brick', 'os_brick'),
    ('harness/companions/nova/nova', 'nova'),
]

# Folder of patches to each package's installed files.
PATCH_DIRS = {
    'cinder': 'patches',
    'os_brick': 'harness/companions/os-brick/patches',
    'nova': 'harness/companions/nova/patches',
}
# Patches of upstream files outside the packages; those of data files
# installed below sys.prefix (DATA_PREFIX) are laid over the venv's copy.
TREE_PATCH_DIR = 'patches/tree'
DATA_PREFIX = 'etc/'
# Overlaid whether installed or not (unless OVERLAY_PACKAGES says otherwise):
# a venv without it is the wrong venv.
REQUIRED_PACKAGES = ('cinder',)
ORIG_SUFFIX = '.lustre-orig'
STATE_FILE = '.lustre-overlay-patches.json'
MANIFEST = os.path.join(REPO, 'harness', 'change.manifest')

# Never laid over site-packages: build and editor debris.
_SKIP_DIRS = {'__pycache__', '.mypy_cache', '.pytest_cache'}
_SKIP_SUFFIXES = ('.pyc', '.pyo', '.swp', '~', ORIG_SUFFIX)


class OverlayError(Exception):
    pass


def site_dir():
    """The purelib of the interpreter running this tool."""
    return os.environ.get('OVERLAY_SITE') or sysconfig.get_paths()['purelib']


def _is_ours(link):
    """True if ``link`` is a symlink pointing into this repository."""
    if not os.path.islink(link):
        return False
    target = os.readlink(link)
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(link), target)
    target = os.path.normpath(target)
    return any(target.startswith(os.path.join(REPO, subtree) + os.sep)
               for subtree, _package in OVERLAYS)


def _repo_files(subtree):
    """Relative paths of the files under REPO/subtree."""
    root = os.path.join(REPO, subtree)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(_SKIP_SUFFIXES):
                continue
            found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def selected_packages(site):
    """The packages of OVERLAYS to overlay in site (see the docstring)."""
    known = [package for _subtree, package in OVERLAYS]
    names = os.environ.get('OVERLAY_PACKAGES', '').replace(',', ' ').split()
    if names:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise OverlayError('OVERLAY_PACKAGES: unknown package(s) %s '
                               '(known: %s)' % (', '.join(unknown),
                                                ', '.join(known)))
        return [package for package in known if package in names]
    return [package for package in known
            if package in REQUIRED_PACKAGES
            or os.path.isdir(os.path.join(site, package))]


def _pairs(site):
    selected = selected_packages(site)
    for subtree, package in OVERLAYS:
        if (package in selected
                and os.path.isdir(os.path.join(REPO, subtree))):
            yield subtree, package, os.path.join(site, package)


def plan(site):
    """[(source, destination)] for every file of every overlay pair."""
    links = []
    for subtree, package, dest_root in _pairs(site):
        if not os.path.isdir(dest_root):
            raise OverlayError('%s is not installed in %s (needed by %s/)'
                               % (package, site, subtree))
        for rel in _repo_files(subtree):
            if os.path.basename(rel) == '__init__.py':
                raise OverlayError(
                    '%s/%s: the change must not add __init__.py files; '
                    'the packages come from upstream' % (subtree, rel))
            links.append((os.path.join(REPO, subtree, rel),
                          os.path.join(dest_root, rel)))
    return links


def _our_links(site):
    """Every symlink of ours under the overlaid packages."""
    for _subtree, package in OVERLAYS:
        root = os.path.join(site, package)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if _is_ours(path):
                    yield path


def _prune_empty_dirs(path, stop):
    """Remove now-empty directories from path up to (not including) stop."""
    path = os.path.dirname(path)
    while path.startswith(stop + os.sep) and os.path.isdir(path):
        pycache = os.path.join(path, '__pycache__')
        entries = [e for e in os.listdir(path) if e != '__pycache__']
        if entries:
            return
        if os.path.isdir(pycache):
            shutil.rmtree(pycache)
        os.rmdir(path)
        path = os.path.dirname(path)


def link_state(site):
    """(links, stale, conflicts) where links is [(src, dest, state)]."""
    links = []
    conflicts = []
    for src, dest in plan(site):
        if os.path.islink(dest) and os.readlink(dest) == src:
            state = 'ok'
        elif _is_ours(dest):
            state = 'relink'
        elif os.path.lexists(dest):
            state = 'conflict'
            conflicts.append(dest)
        else:
            state = 'missing'
        links.append((src, dest, state))
    wanted = {dest for _src, dest, _state in links}
    stale = [p for p in _our_links(site) if p not in wanted]
    return links, stale, conflicts


def apply_links(site, verbose=True):
    links, stale, conflicts = link_state(site)
    if conflicts:
        raise OverlayError(
            'refusing to replace upstream files (rename ours or turn the '
            'edit into a patches/*.patch):\n  ' + '\n  '.join(conflicts))
    for path in stale:
        os.unlink(path)
        if verbose:
            print('removed stale %s' % path)
        stop = _package_root(site, path)
        _prune_empty_dirs(path, stop)
    made = 0
    for src, dest, state in links:
        if state == 'ok':
            continue
        if state == 'relink':
            os.unlink(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.symlink(src, dest)
        made += 1
    if verbose:
        print('overlay: %d files linked (%d new or changed), %d stale removed'
              % (len(links), made, len(stale)))


def _package_root(site, path):
    for _subtree, package in OVERLAYS:
        root = os.path.join(site, package)
        if path.startswith(root + os.sep):
            return root
    return site


def clean_links(site, verbose=True):
    removed = 0
    for path in list(_our_links(site)):
        os.unlink(path)
        _prune_empty_dirs(path, _package_root(site, path))
        removed += 1
    if verbose:
        print('overlay: removed %d symlinks' % removed)


# --- patches to upstream files --------------------------------------------

def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _patch_files(site):
    """The patches of the selected packages, each package's in name order.

    A patch may only touch files of the package whose folder holds it.
    """
    found = []
    extra = _extra_patch_dirs()
    # Patches an environment leaves out by name: an older upstream they
    # do not apply to, whose code the environment does not run.
    skipped = set(os.environ.get('OVERLAY_SKIP_PATCHES', '').replace(
        ',', ' ').split())
    for package, folder in [(package, os.path.join(REPO, folder))
                            for package in selected_packages(site)
                            for folder in ([PATCH_DIRS[package]] +
                                           extra.get(package, []))]:
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith('.patch') or name in skipped:
                continue
            patch = os.path.join(folder, name)
            for target in _patch_targets(patch):
                if not target.startswith(package + '/'):
                    raise OverlayError('%s: %s is not a file of %s'
                                       % (os.path.relpath(patch, REPO),
                                          target, package))
            found.append(patch)
    return found


def data_patch_files(prefix):
    """The patches of TREE_PATCH_DIR that only touch data files in prefix."""
    folder = os.path.join(REPO, TREE_PATCH_DIR)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        patch = os.path.join(folder, name)
        if name.endswith('.patch') and all(
                target.startswith(DATA_PREFIX) and
                os.path.isfile(os.path.join(prefix, target))
                for target in _patch_targets(patch)):
            found.append(patch)
    return found


def _extra_patch_dirs():
    """{package: [folder, ...]} from OVERLAY_EXTRA_PATCHES."""
    extra = {}
    value = os.environ.get('OVERLAY_EXTRA_PATCHES', '')
    for item in value.replace(',', ' ').split():
        package, sep, folder = item.partition('=')
        if not sep or package not in PATCH_DIRS:
            raise OverlayError('OVERLAY_EXTRA_PATCHES: %r is not '
                               'package=folder with package one of %s'
                               % (item, ', '.join(sorted(PATCH_DIRS))))
        if not os.path.isdir(os.path.join(REPO, folder)):
            raise OverlayError('OVERLAY_EXTRA_PATCHES: no folder %s'
                               % folder)
        extra.setdefault(package, []).append(folder)
    return extra


def _patch_targets(patch):
    """Files a unified diff touches, relative to the source root (-p1)."""
    targets = []
    with open(patch, encoding='utf-8') as f:
        for line in f:
            if line.startswith('+++ '):
                path = line[4:].split('\t')[0].strip()
                if path == '/dev/null':
                    raise OverlayError('%s deletes a file; not supported'
                                       % patch)
                path = path.split('/', 1)[1]
                if path not in targets:
                    targets.append(path)
    if not targets:
        raise OverlayError('%s holds no unified diff' % patch)
    return targets


def _load_state(site):
    path = os.path.join(site, STATE_FILE)
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    return {}


def _save_state(site, state):
    path = os.path.join(site, STATE_FILE)
    if state:
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(state, f, indent=1, sort_keys=True)
    elif os.path.exists(path):
        os.unlink(path)


def _desired(patches):
    """{target: [patch sha, ...]} in application order."""
    desired = {}
    for patch in patches:
        digest = _sha(patch)
        for target in _patch_targets(patch):
            desired.setdefault(target, []).append(digest)
    return desired


def patch_state(site, patches=None):
    """{target: state} with state one of ok, stale, changed, missing."""
    if patches is None:
        patches = _patch_files(site)
    desired = _desired(patches)
    state = _load_state(site)
    result = {}
    for target in sorted(set(desired) | set(state)):
        path = os.path.join(site, target)
        entry = state.get(target)
        if target not in desired:
            result[target] = 'stale'
        elif not entry:
            result[target] = 'missing'
        elif entry['patches'] != desired[target]:
            result[target] = 'stale'
        elif not os.path.exists(path) or _sha(path) != entry['result']:
            result[target] = 'changed'
        else:
            result[target] = 'ok'
    return result


def _restore(site, target):
    path = os.path.join(site, target)
    orig = path + ORIG_SUFFIX
    if os.path.exists(orig):
        # A rename, never a write through: installers (uv) may hard-link
        # the installed file to their cache and to other venvs.
        os.replace(orig, path)


def _run_patch(site, patch, dry_run):
    cmd = ['patch', '-p1', '--batch', '--forward', '--silent',
           '--no-backup-if-mismatch', '-r', '-', '-d', site, '-i', patch]
    if dry_run:
        cmd.append('--dry-run')
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        raise OverlayError('the patch program is missing (apt-get install '
                           'patch)')
    if proc.returncode:
        raise OverlayError('%s does not apply to %s:\n%s'
                           % (os.path.relpath(patch, REPO), site,
                              proc.stdout))


def apply_patches(site, verbose=True, patches=None):
    if patches is None:
        patches = _patch_files(site)
    desired = _desired(patches)
    state = _load_state(site)
    current = patch_state(site, patches)

    redo = {t for t, s in current.items() if s != 'ok'}
    # A patch spanning several files is applied whole: redo all its files.
    targets_of = {p: _patch_targets(p) for p in patches}
    grew = True
    while grew:
        grew = False
        for p, targets in targets_of.items():
            if redo.intersection(targets) and not redo.issuperset(targets):
                redo.update(targets)
                grew = True

    for target in sorted(redo):
        path = os.path.join(site, target)
        orig = path + ORIG_SUFFIX
        entry = state.get(target)
        if (entry and os.path.exists(path) and os.path.exists(orig)
                and _sha(path) not in (entry['result'], _sha(orig))):
            # Upstream was reinstalled (or upgraded) under us: what is
            # there now is the pristine file.
            os.unlink(orig)
        _restore(site, target)
        state.pop(target, None)
    _save_state(site, state)

    for patch in patches:
        targets = targets_of[patch]
        if not redo.intersection(targets):
            continue
        for target in targets:
            path = os.path.join(site, target)
            if not os.path.isfile(path) or os.path.islink(path):
                raise OverlayError(
                    '%s: %s is not an installed upstream file; new files '
                    'belong in the overlaid tree, not in a patch'
                    % (os.path.relpath(patch, REPO), target))
        _run_patch(site, patch, dry_run=True)
        for target in targets:
            path = os.path.join(site, target)
            if not os.path.exists(path + ORIG_SUFFIX):
                # patch(1) writes a new file and renames it over the old
                # one, so the pristine inode can simply move aside.
                shutil.copy2(path, path + ORIG_SUFFIX + '.tmp')
                os.replace(path + ORIG_SUFFIX + '.tmp', path + ORIG_SUFFIX)
        _run_patch(site, patch, dry_run=False)
        if verbose:
            print('patched %s' % ', '.join(targets))

    for target in redo:
        if target in desired:
            state[target] = {
                'patches': desired[target],
                'result': _sha(os.path.join(site, target)),
            }
    _save_state(site, state)
    if verbose:
        print('overlay: %d patches, %d files patched (%d re-applied)'
              % (len(patches), len(desired),
                 len([t for t in redo if t in desired])))


def clean_patches(site, verbose=True):
    state = _load_state(site)
    for target in sorted(state):
        _restore(site, target)
        if verbose:
            print('restored %s' % target)
    _save_state(site, {})


# --- the change manifest ---------------------------------------------------

def _glob_regex(pattern):
    """Translate a manifest glob: ** any path, * and ? within a name."""
    out = ''
    i = 0
    while i < len(pattern):
        if pattern.startswith('**', i):
            out += '.*'
            i += 2
        elif pattern[i] == '*':
            out += '[^/]*'
            i += 1
        elif pattern[i] == '?':
            out += '[^/]'
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r'\Z')


def manifest_patterns():
    patterns = []
    with open(MANIFEST, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                patterns.append(line)
    return patterns


def _walk_tops(tops):
    for top in tops:
        yield from os.walk(os.path.join(REPO, top))


def manifest_files():
    """Repository files (relative paths) that form the Gerrit change."""
    patterns = manifest_patterns()
    regexes = [_glob_regex(p) for p in patterns]
    # Walk only the top-level folders the patterns name (the harness keeps
    # large generated trees elsewhere).
    tops = sorted({p.split('/', 1)[0] for p in patterns if '/' in p})
    found = []
    for dirpath, dirnames, filenames in _walk_tops(tops):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in _SKIP_DIRS and not d.startswith('.'))
        for name in sorted(filenames):
            if name.endswith(_SKIP_SUFFIXES):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), REPO)
            if any(r.match(rel) for r in regexes):
                found.append(rel)
    return found


def change_modules(tests=False):
    """Modules of the change: its code, or with tests=True its tests."""
    modules = []
    for rel in manifest_files():
        if not rel.startswith('cinder/') or not rel.endswith('.py'):
            continue
        if tests != rel.startswith('cinder/tests/'):
            continue
        modules.append(rel[:-3].replace('/', '.'))
    return modules


# --- driver discovery (what the compliance tests see) ----------------------

def list_drivers():
    """Import our driver modules and list what cinder.interface sees.

    cinder.interface.util walks cinder/{volume,backup}/drivers relative to
    the current directory and silently skips modules that fail to import, so
    this is run from the repository root: only our drivers are found, and an
    import error is reported instead of hidden.
    """
    import importlib
    import traceback

    os.chdir(REPO)
    failed = 0
    for module in change_modules():
        try:
            importlib.import_module(module)
        except Exception:
            failed += 1
            print('IMPORT FAILED: %s' % module)
            traceback.print_exc()
    from cinder.interface import backup_driver
    from cinder.interface import util
    from cinder.interface import volume_driver
    interfaces = {'volume': volume_driver.VolumeDriverCore,
                  'backup': backup_driver.BackupDriver}
    found = 0
    ours = {os.path.join(REPO, rel) for rel in manifest_files()}
    for kind, getter in (('volume', util.get_volume_drivers),
                         ('backup', util.get_backup_drivers)):
        for info in getter():
            module = sys.modules[info.cls.__module__]
            if os.path.realpath(module.__file__) not in ours:
                continue   # an upstream base class, registered on import
            found += 1
            print('%s driver %s version %s (%d options)'
                  % (kind, info.class_fqn, info.version,
                     len(info.driver_options)))
            missing = _missing_methods(interfaces[kind], info.cls)
            if missing:
                failed += 1
                print('  MISSING %s methods: %s'
                      % (interfaces[kind].__name__, ', '.join(missing)))
    if failed:
        return 1
    if not found and any(m.startswith(('cinder.volume.drivers.',
                                       'cinder.backup.drivers.'))
                         for m in change_modules()):
        print('no driver of the change is registered with cinder.interface')
        return 1
    return 0


def _missing_methods(interface, cls):
    """Public methods of a cinder.interface class that cls lacks.

    The upstream compliance tests rely on CinderInterface.__subclasshook__,
    which collects methods with inspect.ismethod: on Python 3 that finds
    none, so any class passes.  This checks the functions instead.
    """
    import inspect
    missing = []
    for name, func in inspect.getmembers(interface, inspect.isfunction):
        if name.startswith('_'):
            continue
        if getattr(cls, name, func) is func:
            missing.append(name)
    return missing


# --- command line ----------------------------------------------------------

def cmd_status(site, quiet=False):
    try:
        links, stale, conflicts = link_state(site)
    except OverlayError as e:
        print(e)
        return 1
    patches = patch_state(site)
    patches.update(patch_state(sys.prefix, data_patch_files(sys.prefix)))
    bad = 0
    for src, dest, state in links:
        bad += state != 'ok'
        if not quiet or state != 'ok':
            print('%-8s %s' % (state, os.path.relpath(dest, site)))
    for path in stale:
        bad += 1
        print('%-8s %s' % ('stale', os.path.relpath(path, site)))
    for target, state in patches.items():
        bad += state != 'ok'
        if not quiet or state != 'ok':
            print('%-8s %s (patched)' % (state, target))
    if not quiet or bad:
        print('overlay in %s: %d linked, %d patched, %d out of sync'
              % (site, len(links), len(patches), bad))
    return 1 if bad or conflicts else 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=[
        'apply', 'clean', 'status', 'check', 'manifest', 'modules',
        'drivers'])
    parser.add_argument('--tests', action='store_true',
                        help='modules: list the test modules instead')
    parser.add_argument('-q', '--quiet', action='store_true')
    args = parser.parse_args(argv)
    site = site_dir()
    verbose = not args.quiet
    try:
        if args.command == 'apply':
            apply_links(site, verbose)
            apply_patches(site, verbose)
            apply_patches(sys.prefix, verbose,
                          data_patch_files(sys.prefix))
        elif args.command == 'clean':
            clean_links(site, verbose)
            clean_patches(site, verbose)
            clean_patches(sys.prefix, verbose)
        elif args.command in ('status', 'check'):
            return cmd_status(site, quiet=args.command == 'check')
        elif args.command == 'manifest':
            print('\n'.join(manifest_files()))
        elif args.command == 'modules':
            print('\n'.join(change_modules(tests=args.tests)))
        elif args.command == 'drivers':
            return list_drivers()
    except OverlayError as e:
        print('overlay: error: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
